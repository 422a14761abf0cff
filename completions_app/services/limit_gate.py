"""A limited key's request and its limits, for the completion service: what it asks of them
(`ask_for`), letting it in (`admit`) and settling it once at the end (`settle`).

The engine is the gateway state's limiter (limit_types.Limiter). Only requests whose key or
team has a limit come here: the service tests `ctx.client.owners` once, so an unlimited key
pays nothing.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from django.conf import settings

from completions_app import metrics
from providers_app.adapters.types import Usage
from providers_app.errors import LimitExceeded

from .audit import Outcome, estimate_input_tokens
from .budget_alerts import alerts_check, background
from .catalog import ModelEntry
from .cost import cost_compute
from .limit_types import Admission, Ask, Limiter, Owner
from .singleflight import Flight, LeaderGone
from .types import CompletionInput

log = logging.getLogger(__name__)

# A cache hit (or a follower given its leader's answer): a request, nothing reserved, no settle.
HIT = Ask(tokens=0, cost=Decimal(0), hold=False)
_rejections = metrics.Children(metrics.limit_rejections_total)  # limit


def ask_for(inp: CompletionInput, model: ModelEntry) -> Ask:
    """A miss reserves an estimate of its input plus the most output it may get (the request's
    max_tokens as the model's max_output_tokens caps it, else that cap, else DEFAULT_MAX_TOKENS;
    times `n`), and what that costs at the requested model's prices."""
    out = inp.max_tokens
    cap = model.max_output_tokens
    if cap and (out is None or out > cap):
        out = cap
    if out is None:
        out = settings.DEFAULT_MAX_TOKENS
    if inp.options is not None and inp.options.n:
        out *= inp.options.n
    tokens_in = estimate_input_tokens(inp.messages)
    cost = cost_compute(usage=Usage(input_tokens=tokens_in, output_tokens=out), prices=model.prices)
    return Ask(tokens=tokens_in + out, cost=cost)


async def admit(
    o: Outcome, limiter: Limiter, owners: tuple[Owner, ...], ask: Ask, flight: Flight | None = None
) -> Admission:
    """Let the request in, or raise the LimitExceeded that refuses it (counted, named on the
    record). A request that reserved something is settled by `settle` at its end."""
    try:
        admission = await limiter.admit(owners, ask)
    except LimitExceeded as exc:
        _rejections.get(exc.limit).inc()
        o.limit_hit = f"{exc.owner}:{exc.limit}"
        if flight is not None:
            # A leader's refusal is its own: identical requests waiting on it lead instead
            # (with a shared cache they may be other keys').
            flight.fail(LeaderGone())
        raise
    if ask.hold:
        o.admission, o.limiter = admission, limiter
    return admission


async def settle(o: Outcome) -> None:
    """Reconcile the reservation to the record's usage and cost (0 after most failures; what was
    delivered after a cut stream or a client gone; the serving model's prices after a failover).

    Awaited in the request's `finally`, so that the next request of the key sees its slot and
    budget back. Not lost to a cancellation meanwhile (a second cancel of a cancelled request: a
    server stopping): the engine's settle is idempotent per admission, so it is run again in a
    task of its own, or the reservation would hold until its TTL. (Inline rather than always in a
    shielded task: a task costs this path three event-loop turns.) A failure is logged, never
    raised: the answer is already the client's."""
    admission, limiter = o.admission, o.limiter
    o.admission = None  # exactly once
    if admission is None or limiter is None:
        return
    usage = o.usage
    tokens, cost = usage.input_tokens + usage.output_tokens, o.cost
    try:
        await _settle(limiter, admission, tokens, cost, o.ctx.request_id)
    except asyncio.CancelledError:
        background(_settle(limiter, admission, tokens, cost, o.ctx.request_id))
        raise


async def _settle(limiter: Limiter, admission: Admission, tokens: int, cost: Decimal, request_id: str) -> None:
    try:
        spends = await limiter.settle(admission, tokens=tokens, cost=cost)
    except Exception:
        log.exception("settling the limits of request %s failed", request_id)
        return
    alerts_check(spends, admission)
