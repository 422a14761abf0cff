"""The finance report's ranges: the presets a finance person picks, and the period to compare with.

Every range is a pair of calendar days (inclusive) in the current time zone, as the report
and the admin's date filters count them. "Today" is passed in, so tests need no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

LAST_DAYS = 30


@dataclass(frozen=True, slots=True)
class Preset:
    key: str  # in the query string: ?preset=last-month
    label: str


PRESETS = (
    Preset("today", "Today"),
    Preset("month-to-date", "Month to date"),
    Preset("this-month", "This month"),
    Preset("last-month", "Last month"),
    Preset("last-30-days", "Last 30 days"),
)
PRESET_KEYS = frozenset(p.key for p in PRESETS)
DEFAULT_PRESET = "last-30-days"


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    """The last day of `day`'s month."""
    return (month_start(day) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def preset_range(key: str, *, today: date) -> tuple[date, date]:
    """(start, end), both inclusive. KeyError for an unknown key.

    "This month" is the whole calendar month (its days to come are empty); "month to date"
    stops at today: the same start, so on the 1st it is "today".
    """
    ranges = {
        "today": lambda: (today, today),
        "month-to-date": lambda: (month_start(today), today),
        "this-month": lambda: (month_start(today), month_end(today)),
        "last-month": lambda: (
            month_start(month_start(today) - timedelta(days=1)),
            month_start(today) - timedelta(days=1),
        ),
        "last-30-days": lambda: (today - timedelta(days=LAST_DAYS - 1), today),
    }
    return ranges[key]()


def is_whole_month(start: date, end: date) -> bool:
    return start.day == 1 and end == month_end(start)


def previous_range(start: date, end: date) -> tuple[date, date]:
    """The period to compare with: as long as [start, end] and just before it.

    One exception, because months differ in length: a whole calendar month compares with the
    whole month before it (October with September, not with 31 days from 31 August).
    """
    if is_whole_month(start, end):
        prev_end = start - timedelta(days=1)
        return month_start(prev_end), prev_end
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def matching_preset(start: date, end: date, *, today: date) -> str | None:
    """The preset this range is, if any (the first in PRESETS order: on the 1st, "today")."""
    for p in PRESETS:
        if preset_range(p.key, today=today) == (start, end):
            return p.key
    return None
