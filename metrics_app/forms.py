"""The finance report's date range."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone

DEFAULT_DAYS = 30
MAX_DAYS = 731  # two years of daily bars is still a readable chart
# The report turns days into aware datetimes and adds a day to the end: far from date.min and
# date.max, so no time zone or arithmetic overflows (a 500), and no record is older than 1970.
EARLIEST = date(1970, 1, 1)
LATEST = date(9999, 12, 1)


def default_range(today: date | None = None) -> tuple[date, date]:
    """The last 30 days, today included."""
    today = today or timezone.localdate()
    return today - timedelta(days=DEFAULT_DAYS - 1), today


class ReportRangeForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    @classmethod
    def from_query(cls, query: dict[str, str]) -> ReportRangeForm:
        """Bound to the query string, or to the default range when it has neither date."""
        if not query.get("start") and not query.get("end"):
            start, end = default_range()
            return cls({"start": start.isoformat(), "end": end.isoformat()})
        return cls(query)

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        for name, day in (("start", start), ("end", end)):
            if day is not None and not EARLIEST <= day <= LATEST:
                self.add_error(name, f"Choose a day between {EARLIEST} and {LATEST}.")
                return data
        if start and end:
            if start > end:
                raise forms.ValidationError("'From' must not be after 'To'.")
            if (end - start).days + 1 > MAX_DAYS:
                raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        return data
