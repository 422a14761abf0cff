"""Reads of cost records for the management API: the filters, and summaries grouped by time
bucket and dimensions whose sums are exact (money summed as integer 1e-12 USD, rollup.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import F, QuerySet
from django.db.models.functions import TruncDay, TruncHour

from ..models import CompletionRecord
from .rollup import aggregate_row, record_aggregates

# group_by word -> what the rows are grouped on. Time buckets are UTC, as in the roll-ups.
GROUPS: dict[str, Any] = {
    "hour": TruncHour("created_at", tzinfo=UTC),
    "day": TruncDay("created_at", tzinfo=UTC),
    "model": F("model"),
    "provider": F("provider"),
    "client": F("client_name"),
    "team": F("client__team__name"),
}


def records_filtered(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    client: str | None = None,
    team: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    status: str | None = None,
    cached: bool | None = None,
) -> QuerySet[CompletionRecord]:
    """Records in [since, until) matching every filter given (client: the key's name; team: its team's)."""
    qs = CompletionRecord.objects.all()
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    if client:
        qs = qs.filter(client_name=client)
    if team:
        qs = qs.filter(client__team__name=team)
    if model:
        qs = qs.filter(model=model)
    if provider:
        qs = qs.filter(provider=provider)
    if status:
        qs = qs.filter(status=status)
    if cached is not None:
        qs = qs.filter(cached=cached)
    return qs


def cost_summary(records: QuerySet[CompletionRecord], group_by: list[str]) -> list[dict[str, Any]]:
    """One row per group (keys: the group_by words, then requests, errors, cache_hits, token
    sums, cost_usd and cost_saved_usd as Decimal); no group_by = one row for everything."""
    keys = {f"g_{word}": GROUPS[word] for word in group_by}
    rows = records.order_by()  # the model's default ordering would split the groups
    if keys:
        rows = rows.annotate(**keys).values(*keys).annotate(**record_aggregates()).order_by(*keys)
        found = [aggregate_row(r) for r in rows]
    else:
        found = [aggregate_row(rows.aggregate(**record_aggregates()))]
    return [{(k[2:] if k.startswith("g_") else k): v for k, v in row.items()} for row in found]
