"""The finance report and its CSV answer a date outside what the calendar and the database
can hold (year 0, five-digit years, the last day of year 9999, an unparsable day) with a
form error, never a 500 (issue 14, item 7)."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

REPORT = reverse("finance:report")
EXPORT = reverse("finance:export")

BAD_RANGES = [
    {"start": "99999-01-01", "end": "99999-01-02"},
    {"start": "0000-01-01", "end": "2026-01-01"},
    {"start": "0001-01-01", "end": "0001-01-02"},
    {"start": "9999-12-30", "end": "9999-12-31"},
    {"start": "2026-02-30", "end": "2026-03-01"},
    {"start": "-2026-01-01", "end": "2026-01-02"},
    {"start": "2026-01-01", "end": "1" * 400},
    {"start": "99999-01-01"},
]


@pytest.mark.parametrize("query", BAD_RANGES, ids=lambda q: "&".join(f"{k}={v[:12]}" for k, v in q.items()))
def test_an_out_of_range_date_is_a_form_error(finance_client, query):
    page = finance_client.get(REPORT, query)
    assert page.status_code == 200
    assert page.context["report"] is None
    assert page.context["form"].errors
    csv = finance_client.get(EXPORT, query)
    assert csv.status_code == 400


def test_an_unknown_parameter_is_ignored(finance_client):
    page = finance_client.get(REPORT, {"since": "99999-01-01"})
    assert page.status_code == 200
    assert page.context["report"] is not None  # the default range
