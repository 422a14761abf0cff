"""GET /v1/usage: the calling key's limits and its team's, what they used in the current
windows (the minute, today, this month in TIME_ZONE) and what remains.

Where the numbers come from: an owner (the key, its team) with any limit set is tracked by
the limiter (gateway_state().limiter), whose numbers are the ones requests are admitted
against (shared by every replica with Redis, in-flight reservations included); they are
answered as it counts them. An owner without limits is not tracked (it pays nothing per
request), so its numbers are counted from the audit records (spend.py): settled requests
only, nothing in flight or reserved. A request to this endpoint is not a completion: it
counts against no limit.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from completions_app.models import ClientKey
from completions_app.services.cost import cost_format
from completions_app.services.db import db_run
from completions_app.services.gateway_state import gateway_state
from completions_app.services.limit_types import Limits, Owner, OwnerUsage
from completions_app.services.spend import BY_KEY, BY_TEAM, Periods, RecordSpend, periods_at, spend_by
from completions_app.services.types import ClientIdentity

from .common import ApiRequest, authenticate
from .replies import JsonReply, Reply


def _money(value: Decimal | None) -> str | None:
    return None if value is None else cost_format(value)


def _left(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(limit - used, 0)


def _money_left(budget: Decimal | None, used: Decimal) -> str | None:
    return None if budget is None else cost_format(max(budget - used, Decimal(0)))


def owner_json(usage: OwnerUsage) -> dict[str, Any]:
    """One owner's part of the answer (usage_shapes.OWNER_USAGE)."""
    limits = usage.owner.limits
    spent_day, spent_month, reserved = usage.spent_today_usd, usage.spent_this_month_usd, usage.reserved_usd
    return {
        "name": usage.owner.name,
        "limits": {
            "rpm": limits.rpm,
            "tpm": limits.tpm,
            "concurrency": limits.concurrency,
            "budget_usd_day": _money(limits.budget_usd_day),
            "budget_usd_month": _money(limits.budget_usd_month),
        },
        "usage": {
            "requests_this_minute": usage.requests_this_minute,
            "tokens_this_minute": usage.tokens_this_minute,
            "in_flight": usage.in_flight,
            "spent_today_usd": cost_format(spent_day),
            "spent_this_month_usd": cost_format(spent_month),
            "reserved_usd": cost_format(reserved),
            "remaining": {
                "requests": _left(limits.rpm, usage.requests_this_minute),
                "tokens": _left(limits.tpm, usage.tokens_this_minute),
                "concurrency": _left(limits.concurrency, usage.in_flight),
                "budget_usd_day": _money_left(limits.budget_usd_day, spent_day + reserved),
                "budget_usd_month": _money_left(limits.budget_usd_month, spent_month + reserved),
            },
            "minute_resets_in_s": max(0.0, min(60.0, round(usage.minute_resets_in_s, 3))),
        },
        "exact": usage.exact,
    }


def counted_usage(owner: Owner, spend: RecordSpend, periods: Periods) -> OwnerUsage:
    """An untracked owner's usage, from its records: settled only (nothing in flight)."""
    return OwnerUsage(
        owner=owner,
        requests_this_minute=spend.requests_this_minute,
        tokens_this_minute=spend.tokens_this_minute,
        in_flight=0,
        spent_today_usd=spend.day_usd,
        spent_this_month_usd=spend.month_usd,
        reserved_usd=Decimal(0),
        minute_resets_in_s=periods.minute_resets_in_s,
        exact=True,  # the records are every replica's
    )


def usage_from_records(client: ClientIdentity, *, key: bool, team: bool, periods: Periods) -> dict[str, OwnerUsage]:
    """The untracked owners' usage: at most three small queries, whatever the key's history."""
    out: dict[str, OwnerUsage] = {}
    if key:
        owner = Owner("key", client.id, client.name, Limits())
        out["key"] = counted_usage(
            owner, spend_by(BY_KEY, (client.id,), periods).get(client.id, RecordSpend()), periods
        )
    if team:
        team_id = ClientKey.objects.filter(pk=client.id).values_list("team_id", flat=True).first()
        if team_id is not None:  # else the key left its team since its identity was cached
            owner = Owner("team", team_id, client.team, Limits())
            spent = spend_by(BY_TEAM, (team_id,), periods).get(team_id, RecordSpend())
            out["team"] = counted_usage(owner, spent, periods)
    return out


async def usage_report(client: ClientIdentity) -> dict[str, Any]:
    """The answer of GET /v1/usage for this key (usage_shapes.USAGE_REPORT)."""
    tracked = {o.kind: o for o in client.owners}  # the owners with any limit set
    untracked_key = "key" not in tracked
    untracked_team = bool(client.team) and "team" not in tracked
    usages: dict[str, OwnerUsage] = {}
    if untracked_key or untracked_team:
        periods = periods_at()
        usages = await db_run(
            lambda: usage_from_records(client, key=untracked_key, team=untracked_team, periods=periods)
        )
    if tracked:
        limiter = gateway_state().limiter
        counted = await asyncio.gather(*(limiter.usage(o) for o in tracked.values()))
        usages.update((o.kind, u) for o, u in zip(tracked.values(), counted, strict=True))
    team = usages.get("team")
    return {
        "key": owner_json(usages["key"]),
        "team": None if team is None else owner_json(team),
    }


async def usage_get(request: ApiRequest) -> Reply:
    """GET /v1/usage."""
    client = await authenticate(request)
    request_id: str = request.aiproxy_request_id  # type: ignore[attr-defined]
    return JsonReply(await usage_report(client), headers={"x-request-id": request_id})
