"""The finance report's date range: two days, or a preset resolved against today."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from django import forms
from django.utils import timezone

from .periods import DEFAULT_PRESET, PRESET_KEYS, PRESETS, preset_range

MAX_DAYS = 731  # two years of daily bars is still a readable chart
# The report turns days into aware datetimes and adds a day to the end: far from date.min and
# date.max, so no time zone or arithmetic overflows (a 500), and no record is older than 1970.
EARLIEST = date(1970, 1, 1)
LATEST = date(9999, 12, 1)


def default_range(today: date | None = None) -> tuple[date, date]:
    """The last 30 days, today included."""
    return preset_range(DEFAULT_PRESET, today=today or timezone.localdate())


class ReportRangeForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    preset = forms.ChoiceField(
        choices=[("", "")] + [(p.key, p.label) for p in PRESETS], required=False, widget=forms.HiddenInput
    )

    def __init__(self, *args: object, today: date | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.today = today or timezone.localdate()

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, today: date | None = None) -> ReportRangeForm:
        """Bound to the query string: `preset=` (resolved against today, so a bookmarked
        "last month" stays last month), else `start` and `end`, else the default preset."""
        today = today or timezone.localdate()
        preset = query.get("preset") or ""
        if not preset and not query.get("start") and not query.get("end"):
            preset = DEFAULT_PRESET
        if preset in PRESET_KEYS:
            start, end = preset_range(preset, today=today)
            return cls({"start": start.isoformat(), "end": end.isoformat(), "preset": preset}, today=today)
        # An unknown preset fails the choice field: a form error, not a silent default.
        return cls({"start": query.get("start", ""), "end": query.get("end", ""), "preset": preset}, today=today)

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
