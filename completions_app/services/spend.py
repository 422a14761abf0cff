"""What client keys and teams spent, counted from the audit records: GET /v1/usage for owners
the limiter does not track (those without limits) and the finance report's budgets.

Periods are those of the budgets: the calendar day and month in TIME_ZONE (the default time
zone, whatever the request activated) and the epoch minute of the rate limits. A team's
spend is that of the records of its keys (a record names its key, whose team is read now).
Records are written in batches a moment after their request ends (services/recorder.py), so
these are settled numbers: a request in flight is not in them (the limiter holds its
reservation). Money is summed exactly on every backend (services/rollup.money_units_sum's
way: integer units of the cost field's last decimal place).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

from django.db.models import BigIntegerField, Count, F, Q, Sum, Value
from django.db.models.functions import Cast, Round
from django.utils import timezone

from completions_app.models import CompletionRecord
from completions_app.services.rollup import COST_PLACES, money_from_units

# Spend grouped by one of these: a record's key, or its key's team.
BY_KEY = "client_id"
BY_TEAM = "client__team_id"


@dataclass(frozen=True, slots=True)
class Periods:
    now: datetime
    minute: datetime  # the rate limits' fixed one-minute window (epoch minutes)
    day: datetime  # today's start in TIME_ZONE
    month: datetime  # this month's start in TIME_ZONE

    @property
    def minute_resets_in_s(self) -> float:
        return round(60 - (self.now - self.minute).total_seconds(), 3)


def periods_at(now: datetime | None = None) -> Periods:
    now = now or timezone.now()
    tz = timezone.get_default_timezone()
    today = now.astimezone(tz).date()
    epoch_minute = int(now.timestamp()) // 60
    return Periods(
        now=now,
        minute=datetime.fromtimestamp(epoch_minute * 60, tz=UTC),
        day=datetime.combine(today, time.min, tzinfo=tz),
        month=datetime.combine(today.replace(day=1), time.min, tzinfo=tz),
    )


@dataclass(frozen=True, slots=True)
class RecordSpend:
    day_usd: Decimal = Decimal(0)
    month_usd: Decimal = Decimal(0)
    requests_this_minute: int = 0  # every record: answers, errors, cache hits, refusals
    tokens_this_minute: int = 0  # input + output, as billed (a cache hit bills none)


def _money_units(since: datetime) -> Sum:
    units = Cast(Round(F("cost_usd") * Value(10**COST_PLACES)), BigIntegerField())
    return Sum(units, filter=Q(created_at__gte=since), output_field=BigIntegerField(), default=0)


def spend_by(column: str, ids: Collection[int], periods: Periods) -> dict[int, RecordSpend]:
    """{id: spend} for these keys (BY_KEY) or teams (BY_TEAM), in one grouped query; an id
    without records this month is absent."""
    if not ids:
        return {}
    since = min(periods.month, periods.minute)
    rows = (
        CompletionRecord.objects.filter(**{f"{column}__in": list(ids)}, created_at__gte=since)
        .values(column)
        .annotate(
            day_units=_money_units(periods.day),
            month_units=_money_units(periods.month),
            minute_requests=Count("id", filter=Q(created_at__gte=periods.minute)),
            minute_tokens=Sum(
                F("input_tokens") + F("output_tokens"), filter=Q(created_at__gte=periods.minute), default=0
            ),
        )
        .order_by()  # the model's default ordering would split the groups
    )
    return {
        r[column]: RecordSpend(
            day_usd=money_from_units(r["day_units"]),
            month_usd=money_from_units(r["month_units"]),
            requests_this_minute=r["minute_requests"],
            tokens_this_minute=int(r["minute_tokens"]),
        )
        for r in rows
    }
