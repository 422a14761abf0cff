"""The finance report's numbers: totals of cost records by day, model, provider, client and team,
and the same totals for the period before.

Read straight from CompletionRecord (database-side grouping, exact money sums from
services.rollup), not from the roll-up table: the report must equal the records to the
last digit, including records written since the last roll-up run. A handful of grouped
queries whatever the number of records.
Days are calendar days in the current time zone (TIME_ZONE), as in the admin's date filters.
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

from .groups import (
    GROUPINGS,
    Grouping,
    grouped_source,
    row_identity,
    unknown_model_filters,
    with_model_key,
)
from .periods import is_whole_month, previous_range

Row = dict[str, Any]


@dataclass
class FinanceReport:
    start: date
    end: date  # inclusive
    totals: Row
    by_day: list[Row]
    by_group: dict[str, list[Row]]  # "model" | "provider" | "client" | "team" -> rows
    previous_start: date
    previous_end: date
    previous: Row  # the totals of [previous_start, previous_end]
    chart: dict[str, Any] = field(default_factory=dict)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def compares_months(self) -> bool:
        """Whether the previous period is the calendar month before (not as many days)."""
        return is_whole_month(self.start, self.end)


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


def range_filters(start: date, end: date) -> dict[str, str]:
    return {"created_at__date__gte": start.isoformat(), "created_at__date__lte": end.isoformat()}


def _rows(qs: QuerySet[CompletionRecord], *dims: str) -> list[Row]:
    return [aggregate_row(r) for r in qs.values(*dims).annotate(**record_aggregates()).order_by(*dims)]


def _day_series(qs: QuerySet[CompletionRecord]) -> QuerySet[CompletionRecord]:
    return qs.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))


def range_totals(*, start: date, end: date) -> Row:
    return aggregate_row(report_records(start=start, end=end).order_by().aggregate(**record_aggregates()))


def day_rows(qs: QuerySet[CompletionRecord]) -> list[Row]:
    """One row per day that has records, oldest first, with its drill-down link."""
    rows = _rows(_day_series(qs), "day")
    for r in rows:
        r["name"] = r["day"].isoformat()
        r["filters"] = {"created_at__date": r["name"]}
        r["url"] = records_admin_url(**r["filters"])
    return rows


def group_rows(qs: QuerySet[CompletionRecord], grouping: Grouping, *, start: date, end: date) -> list[Row]:
    """One row per name, biggest cost first; `filters` are the row's admin lookups (None: no
    exact link), `unknown` marks the unknown-model row."""
    rows = _rows(grouped_source(qs, grouping), *grouping.values)
    unknown = (
        unknown_model_filters(qs) if grouping.name == "model" and any(r["model_key"] is None for r in rows) else None
    )
    for r in rows:
        name, filters = row_identity(grouping, r, unknown=unknown)
        r["name"] = name
        r["unknown"] = grouping.name == "model" and r["model_key"] is None
        r["filters"] = None if filters is None else {**range_filters(start, end), **filters}
        r["url"] = None if filters is None else records_admin_url(**r["filters"])
    rows.sort(key=lambda r: (-r["cost_usd"], r["unknown"], r["name"] or ""))
    return rows


def _chart(qs: QuerySet[CompletionRecord], days: list[date], by_model: list[Row]) -> dict[str, Any]:
    """Cost per day stacked by model; money as exact decimal strings, the browser only draws.
    Only models that cost something in the range are series: the legend names what is drawn."""
    cells = {
        (r["day"], r["model_key"]): money_from_units(r["cost_units"])
        for r in _day_series(with_model_key(qs))
        .values("day", "model_key")
        .annotate(cost_units=money_units_sum("cost_usd"))
        .order_by()
    }
    series = []
    for row in by_model:  # biggest spenders first: at the bottom of each stack, heading the legend
        if row["cost_usd"] <= 0:
            continue
        key = None if row["unknown"] else row["name"]
        costs = [cells.get((d, key), Decimal(0)) for d in days]
        # A bar's link: the row's lookups for that one day ("" where the row has none, or no bar).
        lookups = row["filters"] and {k: v for k, v in row["filters"].items() if not k.startswith("created_at")}
        series.append(
            {
                "model": row["name"],
                "costs": [cost_format(c) for c in costs],
                "links": [
                    records_admin_url(created_at__date=d.isoformat(), **lookups) if lookups and c > 0 else ""
                    for d, c in zip(days, costs, strict=True)
                ],
            }
        )
    return {"days": [d.isoformat() for d in days], "series": series}


def table_rows(*, start: date, end: date, table: str) -> list[Row]:
    """One table of the report alone ("day" or a grouping's name): what its CSV holds."""
    qs = report_records(start=start, end=end).order_by()
    if table == "day":
        return day_rows(qs)
    grouping = next(g for g in GROUPINGS if g.name == table)
    return group_rows(qs, grouping, start=start, end=end)


def finance_report(*, start: date, end: date) -> FinanceReport:
    qs = report_records(start=start, end=end).order_by()
    totals = aggregate_row(qs.aggregate(**record_aggregates()))
    by_group = {g.name: group_rows(qs, g, start=start, end=end) for g in GROUPINGS}
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    previous_start, previous_end = previous_range(start, end)
    return FinanceReport(
        start=start,
        end=end,
        totals=totals,
        by_day=day_rows(qs),
        by_group=by_group,
        previous_start=previous_start,
        previous_end=previous_end,
        previous=range_totals(start=previous_start, end=previous_end),
        chart=_chart(qs, days, by_group["model"]),
    )
