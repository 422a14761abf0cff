"""Cost roll-ups: CompletionRecord aggregated per hour and per day × model × provider × client.

Recomputed, never incremented: each UTC day of the range is rebuilt from its records in
one transaction, so re-running any period gives the same rows and late records are
picked up by the next run that covers their day.

Sums of money are exact on every backend. PostgreSQL sums `numeric` exactly, but SQLite
stores DecimalField as REAL and would sum floats; so costs are summed as integer counts
of 1e-12 USD (the field's last decimal place) and turned back into Decimal in Python.
(SQLite's integer SUM overflows past ~9.2 million USD per group: fine for development.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import BigIntegerField, Count, F, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Coalesce, Round, TruncDay, TruncHour

from ..models import COST, CompletionRecord, CostRollup

log = logging.getLogger(__name__)

COST_PLACES: int = COST["decimal_places"]
DEFAULT_LOOKBACK = timedelta(hours=48)
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
MONEY_FIELDS = ("cost_usd", "cost_saved_usd")
DIMENSIONS = ("model", "provider", "client_name")


def money_units_sum(field: str) -> Sum:
    """SUM of a cost field as an integer number of 1e-12 USD: exact on SQLite and PostgreSQL."""
    units = Cast(Round(F(field) * Value(10**COST_PLACES)), BigIntegerField())
    return Sum(units, output_field=BigIntegerField(), default=0)


def money_from_units(units: Any) -> Decimal:
    """Back from money_units_sum() to Decimal USD (PostgreSQL answers numeric, SQLite int)."""
    return Decimal(int(units or 0)).scaleb(-COST_PLACES)


def record_aggregates() -> dict[str, Any]:
    """The annotate() kwargs shared by roll-ups and the finance report."""
    return {
        "requests": Count("id"),
        "errors": Count("id", filter=Q(status=CompletionRecord.Status.ERROR)),
        "cache_hits": Count("id", filter=Q(cached=True)),
        **{f: Coalesce(Sum(f), 0) for f in TOKEN_FIELDS},
        **{f"{f}_units": money_units_sum(f) for f in MONEY_FIELDS},
    }


def aggregate_row(row: dict[str, Any]) -> dict[str, Any]:
    """A values().annotate(**record_aggregates()) row with its money back in Decimal."""
    out = {k: v for k, v in row.items() if not k.endswith("_units")}
    for f in MONEY_FIELDS:
        out[f] = money_from_units(row[f"{f}_units"])
    return out


def _day_floor(when: datetime) -> datetime:
    when = when.astimezone(UTC)
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def _days(since: datetime, until: datetime) -> Iterator[datetime]:
    day = _day_floor(since)
    while day < until:
        yield day
        day += timedelta(days=1)


def _grouped(records: QuerySet[CompletionRecord], period: str) -> list[dict[str, Any]]:
    trunc = TruncHour if period == CostRollup.Period.HOUR else TruncDay
    rows = (
        records.annotate(bucket=trunc("created_at", tzinfo=UTC))
        .values("bucket", *DIMENSIONS)
        .annotate(**record_aggregates())
        .order_by()  # the model's default ordering would split the groups
    )
    return [aggregate_row(r) for r in rows]


def rollup_day(day: datetime) -> int:
    """Rebuild the hour and day roll-ups of one UTC day from its records; returns rows written."""
    start = _day_floor(day)
    end = start + timedelta(days=1)
    records = CompletionRecord.objects.filter(created_at__gte=start, created_at__lt=end)
    with transaction.atomic():
        rows = [
            CostRollup(period=period, bucket_start=r.pop("bucket"), **r)
            for period in (CostRollup.Period.HOUR, CostRollup.Period.DAY)
            for r in _grouped(records, period)
        ]
        # Delete first: a group whose records are gone (or moved) must not survive.
        CostRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=end).delete()
        # An upsert rather than a plain insert: two runs over the same day at once (two
        # workers, beat + a manual run) then both succeed with the same numbers.
        CostRollup.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["period", "bucket_start", *DIMENSIONS],
            update_fields=["requests", "errors", "cache_hits", *TOKEN_FIELDS, *MONEY_FIELDS, "updated_at"],
        )
    return len(rows)


def rollup_recompute(
    *, since: datetime | None = None, until: datetime | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Recompute every UTC day touching [since, until); default: the last 48 hours.

    Whole days are rebuilt even when the range starts mid-day, so a day's roll-up is
    always the sum of all its records.
    """
    now = now or datetime.now(tz=UTC)
    until = until or now
    since = since or until - DEFAULT_LOOKBACK
    if since >= until:
        raise ValueError("since must be before until")
    days = list(_days(since, until))
    written = sum(rollup_day(day) for day in days)
    log.info("cost roll-up: %d day(s) from %s, %d row(s)", len(days), days[0].date() if days else "-", written)
    return {"days": len(days), "rows": written, "since": days[0].isoformat() if days else None}


def rollup_catch_up(*, now: datetime | None = None, max_days: int = 31, fresh_s: float = 60) -> dict[str, Any]:
    """Bring the roll-ups up to date without a beat: recompute from the newest roll-up's day
    (or the first record's, when there is none) to now, at most `max_days` back; nothing
    when a run (this or the beat's) wrote roll-ups in the last `fresh_s` seconds.

    For the admin's roll-up list, so it is never empty or stale for lack of a Celery beat.
    Idempotent like rollup_recompute; a day with no records yet costs one empty query.
    """
    now = now or datetime.now(tz=UTC)
    last_run = CostRollup.objects.aggregate(last=Max("updated_at"))["last"]
    if last_run is not None and now - last_run < timedelta(seconds=fresh_s):
        return {"days": 0, "rows": 0, "since": None}
    floor = now - timedelta(days=max_days)
    newest = CostRollup.objects.order_by("-bucket_start").values_list("bucket_start", flat=True).first()
    if newest is None:
        newest = CompletionRecord.objects.order_by("created_at").values_list("created_at", flat=True).first()
        if newest is None:
            return {"days": 0, "rows": 0, "since": None}
    return rollup_recompute(since=min(max(newest, floor), now), until=now + timedelta(seconds=1), now=now)
