"""The records list's date filter: calendar days in the site's time zone, as the finance report counts them.

It takes the lookups the report links with (`created_at__date__gte` / `__lte`, `created_at__date`),
so a drill-down from the report arrives with its range shown as the active filter, removable
like any other, and the totals line adds up the same records as the report's cell.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def day_range_q(field: str, start: date | None, end: date | None) -> Q:
    """[start 00:00, end+1 00:00) local time as a range on the indexed column, not a per-row date cast."""
    q = Q()
    if start is not None:
        q &= Q(**{f"{field}__gte": _day_start(start)})
    if end is not None:
        q &= Q(**{f"{field}__lt": _day_start(end + timedelta(days=1))})
    return q


class DayRangeFilter(admin.FieldListFilter):
    """From / to calendar days (inclusive), or one day."""

    def __init__(self, field: Any, request: HttpRequest, params: dict, model: Any, model_admin: Any, field_path: str):
        self.kw_gte = f"{field_path}__date__gte"
        self.kw_lte = f"{field_path}__date__lte"
        self.kw_day = f"{field_path}__date"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = "date"
        self.start, self.end = self._range()

    def expected_parameters(self) -> list[str]:
        return [self.kw_gte, self.kw_lte, self.kw_day]

    def _param(self, name: str) -> date | None:
        value = self.used_parameters.get(name)
        if isinstance(value, list):
            value = value[-1] if value else None
        if value in (None, ""):
            return None
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise IncorrectLookupParameters(f"{name}: not a date (YYYY-MM-DD): {value!r}") from None

    def _range(self) -> tuple[date | None, date | None]:
        day = self._param(self.kw_day)
        if day is not None:
            return day, day
        return self._param(self.kw_gte), self._param(self.kw_lte)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.start is None and self.end is None:
            return queryset
        return queryset.filter(day_range_q(self.field_path, self.start, self.end))

    def _presets(self) -> list[tuple[str, date | None, date | None]]:
        today = timezone.localdate()
        first = today.replace(day=1)
        last_month_end = first - timedelta(days=1)
        return [
            ("Any date", None, None),
            ("Today", today, today),
            ("Past 7 days", today - timedelta(days=6), today),
            ("This month", first, today),
            ("Last month", last_month_end.replace(day=1), last_month_end),
        ]

    def _query(self, start: date | None, end: date | None) -> dict[str, str]:
        if start is None and end is None:
            return {}
        if start == end:
            return {self.kw_day: start.isoformat()}  # type: ignore[union-attr]
        out = {}
        if start is not None:
            out[self.kw_gte] = start.isoformat()
        if end is not None:
            out[self.kw_lte] = end.isoformat()
        return out

    def get_facet_counts(self, pk_attname: str, filtered_qs: QuerySet) -> dict[str, Count]:
        return {
            f"{i}__c": Count(pk_attname, filter=day_range_q(self.field_path, start, end))
            for i, (_, start, end) in enumerate(self._presets())
        }

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        counts = self.get_facet_queryset(changelist) if changelist.add_facets else None
        current = (self.start, self.end)
        matched = False
        for i, (title, start, end) in enumerate(self._presets()):
            selected = current == (start, end)
            matched = matched or selected
            yield {
                "selected": selected,
                "query_string": changelist.get_query_string(self._query(start, end), self.expected_parameters()),
                "display": f"{title} ({counts[f'{i}__c']})" if counts else title,
            }
        if not matched:  # a range from the report: shown as the active choice
            yield {
                "selected": True,
                "query_string": changelist.get_query_string(self._query(*current), self.expected_parameters()),
                "display": range_text(*current),
            }


def range_text(start: date | None, end: date | None) -> str:
    if start == end:
        return f"{start:%Y-%m-%d}"
    if start is None:
        return f"until {end:%Y-%m-%d}"
    if end is None:
        return f"from {start:%Y-%m-%d}"
    return f"{start:%Y-%m-%d} – {end:%Y-%m-%d}"
