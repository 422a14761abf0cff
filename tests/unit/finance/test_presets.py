"""Date-range presets and the period each range is compared with; "today" is frozen."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from metrics_app.forms import ReportRangeForm
from metrics_app.periods import PRESETS, is_whole_month, matching_preset, preset_range, previous_range

REPORT = reverse("finance:report")
D = date


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (
            D(2026, 3, 15),
            {
                "today": (D(2026, 3, 15), D(2026, 3, 15)),
                "month-to-date": (D(2026, 3, 1), D(2026, 3, 15)),
                "this-month": (D(2026, 3, 1), D(2026, 3, 31)),
                "last-month": (D(2026, 2, 1), D(2026, 2, 28)),
                "last-30-days": (D(2026, 2, 14), D(2026, 3, 15)),
            },
        ),
        (  # across a year, the 1st of the month
            D(2026, 1, 1),
            {
                "today": (D(2026, 1, 1), D(2026, 1, 1)),
                "month-to-date": (D(2026, 1, 1), D(2026, 1, 1)),
                "this-month": (D(2026, 1, 1), D(2026, 1, 31)),
                "last-month": (D(2025, 12, 1), D(2025, 12, 31)),
                "last-30-days": (D(2025, 12, 3), D(2026, 1, 1)),
            },
        ),
        (  # a leap year's February, and its last day
            D(2024, 3, 31),
            {
                "today": (D(2024, 3, 31), D(2024, 3, 31)),
                "month-to-date": (D(2024, 3, 1), D(2024, 3, 31)),
                "this-month": (D(2024, 3, 1), D(2024, 3, 31)),
                "last-month": (D(2024, 2, 1), D(2024, 2, 29)),
                "last-30-days": (D(2024, 3, 2), D(2024, 3, 31)),
            },
        ),
    ],
    ids=["mid-month", "new-year", "leap"],
)
def test_preset_ranges(today, expected):
    assert {p.key: preset_range(p.key, today=today) for p in PRESETS} == expected
    for key, (start, end) in expected.items():
        assert start <= end <= today or key == "this-month"


@pytest.mark.parametrize(
    ("start", "end", "previous"),
    [
        (D(2026, 3, 15), D(2026, 3, 15), (D(2026, 3, 14), D(2026, 3, 14))),  # a day: the day before
        (D(2026, 3, 10), D(2026, 3, 16), (D(2026, 3, 3), D(2026, 3, 9))),  # 7 days: the 7 before
        (D(2026, 2, 14), D(2026, 3, 15), (D(2026, 1, 15), D(2026, 2, 13))),  # last 30 days
        (D(2026, 3, 1), D(2026, 3, 15), (D(2026, 2, 14), D(2026, 2, 28))),  # month to date: 15 days before
        (D(2026, 3, 1), D(2026, 3, 31), (D(2026, 2, 1), D(2026, 2, 28))),  # a whole month: the month before
        (D(2026, 1, 1), D(2026, 1, 31), (D(2025, 12, 1), D(2025, 12, 31))),
        (D(2024, 3, 1), D(2024, 3, 31), (D(2024, 2, 1), D(2024, 2, 29))),
        (D(2026, 2, 1), D(2026, 3, 31), (D(2025, 12, 4), D(2026, 1, 31))),  # two months: 59 days
    ],
)
def test_previous_range(start, end, previous):
    assert previous_range(start, end) == previous
    p_start, p_end = previous
    assert p_end < start
    if not is_whole_month(start, end):
        assert (p_end - p_start) == (end - start)  # as many days, just before
        assert (start - p_end).days == 1


def test_matching_preset_names_the_first_preset_of_the_range():
    today = D(2026, 3, 1)
    assert matching_preset(today, today, today=today) == "today"  # also month to date on the 1st
    assert matching_preset(D(2026, 2, 1), D(2026, 2, 28), today=today) == "last-month"
    assert matching_preset(D(2026, 2, 2), D(2026, 2, 28), today=today) is None


def test_form_resolves_a_preset_against_today_and_rejects_an_unknown_one():
    form = ReportRangeForm.from_query({"preset": "last-month"}, today=D(2026, 3, 15))
    assert form.is_valid()
    assert (form.cleaned_data["start"], form.cleaned_data["end"]) == (D(2026, 2, 1), D(2026, 2, 28))
    # A preset wins over dates (the links carry only the preset).
    form = ReportRangeForm.from_query(
        {"preset": "today", "start": "2020-01-01", "end": "2020-01-02"}, today=D(2026, 3, 15)
    )
    assert form.is_valid() and form.cleaned_data["start"] == D(2026, 3, 15)
    form = ReportRangeForm.from_query({}, today=D(2026, 3, 15))
    assert form.is_valid()
    assert (form.cleaned_data["start"], form.cleaned_data["end"]) == (D(2026, 2, 14), D(2026, 3, 15))
    assert not ReportRangeForm.from_query({"preset": "next-year"}, today=D(2026, 3, 15)).is_valid()


def _presets_nav(html: str) -> str:
    start = html.index('id="finance-presets"')
    return html[start : html.index("</nav>", start)]


@pytest.fixture
def frozen_now(monkeypatch):
    now = datetime(2026, 3, 15, 9, 30, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


@pytest.mark.django_db
def test_report_page_links_the_presets_and_shows_the_chosen_range(finance_client, frozen_now):
    html = finance_client.get(REPORT, {"preset": "last-month"}).content.decode()
    nav = _presets_nav(html)
    links = dict(re.findall(r'href="([^"]+)" data-preset="([^"]+)"', nav))
    assert set(links.values()) == {p.key for p in PRESETS}
    assert re.search(r'data-preset="last-month" class="active"', nav)
    assert nav.count('class="active"') == 1
    assert "Last month: 2026-02-01 – 2026-02-28" in html
    assert 'value="2026-02-01"' in html and 'value="2026-02-28"' in html  # the form shows the range
    assert "2026-01-01 – 2026-01-31</a> (the calendar month before)" in html
    # Each preset link answers its range.
    for url, key in links.items():
        report = finance_client.get(url.replace("&amp;", "&")).context["report"]
        assert (report.start, report.end) == preset_range(key, today=D(2026, 3, 15))


@pytest.mark.django_db
def test_dates_that_are_a_preset_mark_it_and_others_mark_none(finance_client, frozen_now):
    html = finance_client.get(REPORT, {"start": "2026-03-01", "end": "2026-03-15"}).content.decode()
    assert re.search(r'data-preset="month-to-date" class="active"', html)
    assert "Month to date: 2026-03-01 – 2026-03-15" in html
    html = finance_client.get(REPORT, {"start": "2026-03-02", "end": "2026-03-15"}).content.decode()
    assert 'class="active"' not in _presets_nav(html)
    assert "2026-02-16 – 2026-03-01</a> (as many days, just before)" in html


@pytest.mark.django_db
def test_an_unknown_preset_is_a_form_error(finance_client, frozen_now):
    resp = finance_client.get(REPORT, {"preset": "forever"})
    assert resp.status_code == 200
    assert resp.context["report"] is None
    assert "Unknown preset" in resp.content.decode()
    assert finance_client.get(reverse("finance:export"), {"preset": "forever"}).status_code == 400
