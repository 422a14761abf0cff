"""The steps every service call takes, whatever it asks (a completion, embeddings): its start and
end (the in-flight gauge, latency, the record), the model it names and whether the key may use
it, the cache lookup with single flight, a hit, a miss's admission and upstream call (leading
identical requests), the routed call and who answered it, an error on the record, and keeping
an answer that arrives as its client leaves. completion.py and embedding.py both call these, so
both give the same guarantees the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from completions_app import metrics
from providers_app.adapters.base import ProviderAdapter
from providers_app.errors import GatewayError, InvalidRequest, PermissionDenied
from providers_app.models import mode_named

from ..models import CompletionRecord
from .audit import Outcome, outcome_finish
from .catalog import Catalog, ModelEntry, model_missing
from .gateway_state import GatewayState
from .limit_gate import admit, settle
from .limit_types import Ask
from .router import Routed, route
from .singleflight import LeaderGone
from .types import CallContext, CompletionInput, EmbeddingInput

T = TypeVar("T")
# Cached labelled children (metrics.Children): `.labels()` per request costs ~3 µs.
cache_results = metrics.Children(metrics.cache_hits_total)  # result
upstream_durations = metrics.Children(metrics.upstream_duration_seconds)  # provider

# How long an abandoned non-stream call may take to finish reading an answer that is arriving.
ANSWER_GRACE_S = 0.25
Status = CompletionRecord.Status
CHAT, EMBEDDING = "chat", "embedding"  # providers_app.models.Model.Mode
_ROUTE_OF = {CHAT: "/v1/chat/completions", EMBEDDING: "/v1/embeddings"}


def model_resolve(catalog: Catalog, name: str, ctx: CallContext, *, mode: str) -> ModelEntry:
    """The catalog's model `name`, if the client key may use it and it does what is asked
    (`mode`): unknown 404, not allowed 403, the other mode 400 naming the route it serves."""
    model = catalog.models.get(name)
    if model is None:
        raise model_missing(catalog, name)
    allowed = ctx.client.allowed_models
    if allowed is not None and name not in allowed:
        raise PermissionDenied(f"This client key may not use model {name!r}.", field="model")
    if model.mode != mode:
        raise InvalidRequest(
            f"Model {name!r} is {mode_named(model.mode)} model: use {_ROUTE_OF.get(model.mode, 'its own route')}.",
            field="model",
        )
    return model


def call_start(inp: CompletionInput | EmbeddingInput, ctx: CallContext, *, stream: bool) -> tuple[Outcome, float]:
    metrics.in_flight.inc()
    return Outcome(ctx=ctx, inp=inp, stream=stream), time.perf_counter()


def call_end(o: Outcome, t0: float) -> None:
    metrics.in_flight.dec()
    o.latency_ms = (time.perf_counter() - t0) * 1000
    outcome_finish(o)


async def call_settled_end(o: Outcome, t0: float) -> None:
    """The end of a call that reserved under its key's limits: settle it, then call_end."""
    try:
        await settle(o)
    finally:
        call_end(o, t0)


def error_apply(o: Outcome, exc: BaseException) -> None:
    """What the record says of a call that raised `exc`."""
    o.status = Status.ERROR
    if isinstance(exc, GatewayError):
        o.error_type, o.http_status = exc.code, exc.http_status
        o.provider = o.provider or exc.provider
        if o.admission is not None and exc.limit_headers is None:
            exc.limit_headers = o.admission.headers
    elif isinstance(exc, asyncio.CancelledError | GeneratorExit):
        o.error_type, o.http_status = "client_disconnected", 499
        # Cancelled while a provider was being asked (a gRPC deadline, a client gone): name it.
        if o.attempts:
            o.provider = o.provider or o.attempts[-1].provider
            o.provider_key = o.provider_key or o.attempts[-1].key
    else:
        o.error_type, o.http_status = "internal_error", 500


def hit_apply(o: Outcome, *, served_model: str, provider: str, cost_usd: str) -> None:
    """A cached answer (or a leader's, to its follower): nothing used upstream, the original
    call's cost saved."""
    o.status, o.cached = Status.CACHE_HIT, True
    o.served_model, o.provider = served_model, provider
    o.cost_saved = Decimal(cost_usd)
    cache_results.get("hit").inc()


async def _await_flight(state: GatewayState, key: str) -> Any:
    """The answer of an identical request already in flight, if there is one."""
    flight = state.flights.follower_of(key)
    if flight is None:
        return None
    try:
        return await asyncio.shield(flight.future)
    except LeaderGone:
        return None


async def cache_lookup(state: GatewayState, key: str | None, get: Callable[[str], Awaitable[T | None]]) -> T | None:
    """A cached answer (`get` reads the cache), or the answer of an identical request in flight.

    The flight check comes last and nothing awaits between it and the caller
    taking the lead, so two identical requests cannot both lead."""
    if key is None:
        cache_results.get("bypass").inc()
        return None
    hit = await get(key) or await _await_flight(state, key)
    if hit is None:
        cache_results.get("miss").inc()
    return hit


async def shielded(call: Awaitable[T], abandoned: Callable[[T], None]) -> T:
    """`call` in a task of its own, so that a client leaving does not lose an answer that has
    arrived: the provider bills it. When the caller is cancelled (client gone, gRPC deadline)
    while `call` is in flight, an answer already arriving gets ANSWER_GRACE_S to be read and is
    handed to `abandoned` (its usage goes on the record); the upstream request is cancelled."""
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait((task,), timeout=ANSWER_GRACE_S)
        if task.done() and not task.cancelled() and task.exception() is None:
            abandoned(task.result())
        raise
    finally:
        if not task.done():
            task.cancel()  # the client is gone: so is the upstream request


async def miss_call(
    o: Outcome,
    state: GatewayState,
    key: str | None,
    ask: Callable[[], Ask],
    call: Callable[[], Awaitable[T]],
    cached: Callable[[T], Any],
    store: Callable[[str, Any], Awaitable[None]],
) -> T:
    """A cache miss's upstream `call`, once the key's limits admit `ask()` (an unlimited key
    skips that). A cacheable one (`key`) leads the identical requests that arrive meanwhile:
    they get `cached(answer)`, which `store` also writes to the response cache."""
    owners = o.ctx.client.owners
    if key is not None and state.flights.follower_of(key) is None:
        async with state.flights.lead(key) as flight:
            if owners:
                await admit(o, state.limiter, owners, ask(), flight)
            value = await call()
            answer = cached(value)
            flight.resolve(answer)
            await store(key, answer)
            return value
    if owners:
        await admit(o, state.limiter, owners, ask())
    return await call()


async def routed_call(
    o: Outcome,
    catalog: Catalog,
    model: ModelEntry,
    run: Callable[[ModelEntry, ProviderAdapter], Awaitable[T]],
    refusal: Callable[[ModelEntry], GatewayError | None] | None,
) -> tuple[Routed[T], float]:
    """`run` on the model or a fallback (router.route), and when it started; its time goes to
    the record's upstream time, the model, provider and key that answered to the record."""
    started = time.perf_counter()
    try:
        routed = await route(catalog=catalog, model=model, attempts=o.attempts, run=run, refusal=refusal)
    finally:
        o.upstream_s += time.perf_counter() - started
    m = routed.model
    o.served_model, o.provider = m.name, m.provider.name
    o.provider_key = routed.key.label if routed.key else ""
    return routed, started


def answered(o: Outcome, routed: Routed[Any]) -> None:
    """A non-streamed call's answer is in: its provider's breaker counts a success, and the
    upstream-time metric the call's duration."""
    routed.ticket.success()
    upstream_durations.get(o.provider).observe(o.upstream_s)
