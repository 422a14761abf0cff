"""The finance report's numbers: totals of cost records by day, model, provider and client.

Read straight from CompletionRecord (database-side grouping, exact money sums from
services.rollup), not from the roll-up table: the report must equal the records to the
last digit, including records written since the last roll-up run.
Days are calendar days in the site's time zone (TIME_ZONE), as in the admin's date filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from completions_app.models import CompletionRecord
from completions_app.services.cost import cost_format
from completions_app.services.cost_export import records_select
from completions_app.services.rollup import aggregate_row, money_from_units, money_units_sum, record_aggregates

GROUPS = {"model": "model", "provider": "provider", "client": "client_name"}


@dataclass
class FinanceReport:
    start: date
    end: date  # inclusive
    totals: dict[str, Any]
    by_day: list[dict[str, Any]]
    by_group: dict[str, list[dict[str, Any]]]  # "model" | "provider" | "client" -> rows
    chart: dict[str, Any] = field(default_factory=dict)


def report_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[since, until) for the inclusive day range, in the current time zone."""
    tz = timezone.get_current_timezone()
    since = timezone.make_aware(datetime.combine(start, time.min), tz)
    until = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz)
    return since, until


def report_records(*, start: date, end: date) -> QuerySet[CompletionRecord]:
    """The records of the range, in the order the CSV export writes them."""
    since, until = report_bounds(start, end)
    return records_select(since=since, until=until)


def records_admin_url(**filters: Any) -> str:
    """The admin record list with these lookups (e.g. created_at__date=..., model=...)."""
    base = reverse("admin:completions_app_completionrecord_changelist")
    return f"{base}?{urlencode({k: str(v) for k, v in filters.items()})}"


def _rows(qs: QuerySet[CompletionRecord], *dims: str) -> list[dict[str, Any]]:
    return [aggregate_row(r) for r in qs.values(*dims).annotate(**record_aggregates()).order_by(*dims)]


def _day_series(qs: QuerySet[CompletionRecord]) -> QuerySet[CompletionRecord]:
    return qs.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))


def _chart(qs: QuerySet[CompletionRecord], days: list[date], by_model: list[dict[str, Any]]) -> dict[str, Any]:
    """Cost per day stacked by model; money as exact decimal strings, the browser only draws."""
    cells = {
        (r["day"], r["model"]): money_from_units(r["cost_units"])
        for r in _day_series(qs).values("day", "model").annotate(cost_units=money_units_sum("cost_usd")).order_by()
    }
    # Biggest spenders first: they sit at the bottom of each stack and head the legend.
    models = [r["model"] for r in sorted(by_model, key=lambda r: (-r["cost_usd"], r["model"]))]
    return {
        "days": [d.isoformat() for d in days],
        "series": [
            {
                "model": m,
                "costs": [cost_format(cells.get((d, m), Decimal(0))) for d in days],
                "links": [records_admin_url(created_at__date=d.isoformat(), model=m) for d in days],
            }
            for m in models
        ],
    }


def finance_report(*, start: date, end: date) -> FinanceReport:
    qs = report_records(start=start, end=end).order_by()
    totals = aggregate_row(qs.aggregate(**record_aggregates()))
    range_filters = {"created_at__date__gte": start.isoformat(), "created_at__date__lte": end.isoformat()}

    per_day = {r["day"]: r for r in _rows(_day_series(qs), "day")}
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    by_day = []
    for d in days:
        row = per_day.get(d)
        if row is not None:
            row["url"] = records_admin_url(created_at__date=d.isoformat())
            by_day.append(row)

    by_group: dict[str, list[dict[str, Any]]] = {}
    for name, column in GROUPS.items():
        rows = sorted(_rows(qs, column), key=lambda r: (-r["cost_usd"], r[column]))
        for r in rows:
            r["name"] = r[column]
            r["url"] = records_admin_url(**range_filters, **{column: r[column]})
        by_group[name] = rows

    return FinanceReport(
        start=start,
        end=end,
        totals=totals,
        by_day=by_day,
        by_group=by_group,
        chart=_chart(qs, days, by_group["model"]),
    )
