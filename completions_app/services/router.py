"""Routing: the requested model, then its fallbacks in order; per model, the
provider's keys in round-robin order; every attempt behind the provider's breaker.

- 429 → that key cools down, the next key is tried.
- 401/403 → the next key is tried (a bad key must not take the model down).
- Upstream faults (connection, timeout, 5xx, malformed) and an open breaker →
  the next fallback model.
- The client's own errors (400-class) → returned at once.

When the chain ends on cooling keys (429) or an open breaker (503), the error
carries the smallest wait the chain knows of: the gateway's own Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from completions_app import metrics
from providers_app.adapters.base import ProviderAdapter
from providers_app.adapters.registry import ClientPool
from providers_app.errors import (
    CircuitOpen,
    GatewayError,
    NoKeyAvailable,
    UpstreamAuthError,
    UpstreamRateLimited,
)

from .breakers import Ticket
from .catalog import Catalog, KeyEntry, ModelEntry
from .gateway_state import gateway_state
from .types import Attempt

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(slots=True)
class Routed(Generic[T]):
    value: T
    model: ModelEntry
    key: KeyEntry | None
    ticket: Ticket  # still open: the caller reports success (or a mid-stream failure)


def model_chain(catalog: Catalog, model: ModelEntry) -> list[ModelEntry]:
    chain = [model]
    for name in model.fallbacks:
        fb = catalog.models.get(name)
        if fb is not None and fb not in chain:
            chain.append(fb)
    return chain


def _adapter(pool: ClientPool, model: ModelEntry, key: KeyEntry | None) -> ProviderAdapter:
    p = model.provider
    return pool.get(
        f"key:{key.id}" if key else f"provider:{p.id}",
        kind=p.kind,
        base_url=p.base_url or None,
        api_key=key.secret if key else None,
        timeout_s=p.timeout_s,
    )


CANCELLED = "cancelled"  # an attempt's outcome when the call was cancelled (client gone, its deadline)


async def route(
    *,
    catalog: Catalog,
    model: ModelEntry,
    attempts: list[Attempt],
    run: Callable[[ModelEntry, ProviderAdapter], Awaitable[T]],
    refusal: Callable[[ModelEntry], GatewayError | None] | None = None,
) -> Routed[T]:
    """Call `run` on the first (model, key) that answers; raise the last error otherwise.

    `refusal`: what a model's provider kind cannot honour of this request. The requested
    model's refusal is the client's error (400, naming the field); a fallback that would
    refuse is skipped, its reason on the attempts as `unsupported:<field>`."""
    state = gateway_state()
    last: GatewayError | None = None
    waits: list[float] = []  # per model of the chain, when it may answer again
    chain = model_chain(catalog, model)
    tried: str | None = None
    for i, m in enumerate(chain):
        provider = m.provider
        if refusal is not None and (refused := refusal(m)) is not None:
            if i == 0:
                raise refused
            attempts.append(Attempt(m.name, provider.name, "", f"unsupported:{refused.field}"))
            continue
        if tried is not None:  # the last model asked, not one skipped as unable to honour the request
            metrics.failovers_total.labels(from_model=tried, to_model=m.name).inc()
        tried = m.name
        try:
            ticket = await state.board.get(provider.name, timeout_s=provider.timeout_s).admit()
        except CircuitOpen as exc:
            exc.provider = provider.name
            attempts.append(Attempt(m.name, provider.name, "", exc.code))
            last = exc
            if exc.retry_after is not None:
                waits.append(exc.retry_after)
            continue
        wait_s: float | None = None
        if provider.keys:
            order = await state.keyring.order(provider)
            keys: list[KeyEntry | None] = list(order.keys)
            wait_s = order.wait_s
        else:
            keys = [None] if provider.kind == "ollama" else []
        if not keys:
            ticket.release()
            last = NoKeyAvailable(f"Every key of provider {provider.name} is cooling down or none is enabled.")
            if wait_s is not None:
                waits.append(wait_s)
            last.provider = provider.name
            attempts.append(Attempt(m.name, provider.name, "", last.code))
            continue
        for key in keys:
            label = key.label if key else ""
            try:
                value = await run(m, _adapter(state.pool, m, key))
            except asyncio.CancelledError:
                ticket.release()
                attempts.append(Attempt(m.name, provider.name, label, CANCELLED))  # the record keeps who was asked
                raise
            except GatewayError as exc:
                exc.provider = provider.name
                attempts.append(Attempt(m.name, provider.name, label, exc.code))
                last = exc
                if isinstance(exc, UpstreamRateLimited) and key is not None:
                    cooled = await state.keyring.cooldown(key, exc.retry_after)
                    wait_s = cooled if wait_s is None else min(wait_s, cooled)
                    metrics.key_cooldowns_total.labels(provider=provider.name).inc()
                    continue
                if isinstance(exc, UpstreamAuthError):
                    log.warning("provider %s rejected key %s (status %s)", provider.name, label, exc.upstream_status)
                    continue
                ticket.failure(exc)
                if not exc.retryable:
                    raise
                break
            except Exception as exc:
                # Adapters raise only classified errors: anything else is a bug of
                # ours, not the provider's fault — no failover, no breaker count.
                ticket.release()
                attempts.append(Attempt(m.name, provider.name, label, GatewayError.code))
                log.exception("unclassified error from the %s adapter", provider.kind)
                raise GatewayError() from exc
            attempts.append(Attempt(m.name, provider.name, label, "ok"))
            return Routed(value=value, model=m, key=key, ticket=ticket)
        else:
            # Every key was rate limited or rejected: the provider answered, so
            # it is not a breaker fault; move on to the fallbacks.
            if last is not None:
                ticket.failure(last)
            else:
                ticket.release()
            if wait_s is not None:
                waits.append(wait_s)
    assert last is not None  # noqa: S101 - the chain always has the requested model
    if isinstance(last, (UpstreamRateLimited, CircuitOpen)) and waits:
        last.retry_after = min(waits)
    raise last
