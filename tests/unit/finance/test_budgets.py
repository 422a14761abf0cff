"""The finance report's budgets: spend against budget now, per team and per client key with a
budget, from the records (calendar day and month in TIME_ZONE), exact, by % used; and their
CSV download."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from completions_app.models import ClientKey, CompletionRecord, Team
from completions_app.services.spend import periods_at
from metrics_app.budgets import budget_report

from .conftest import PASSWORD, record_create

pytestmark = pytest.mark.django_db

REPORT = reverse("finance:report")
BUDGETS_CSV = reverse("finance:budgets_export")


@pytest.fixture
def local_noon(settings):
    """TIME_ZONE where it is about noon now: today's start is hours before now."""
    offset = 12 - datetime.now(UTC).hour
    settings.TIME_ZONE = f"Etc/GMT{-offset:+d}"  # POSIX sign: Etc/GMT-3 is UTC+3


def _key(name: str, team: Team | None = None, **limits: object) -> ClientKey:
    return ClientKey.objects.create(name=name, key_hash=name.ljust(64, "0"), prefix=name[:8], team=team, **limits)


def _spend(key: ClientKey, when: datetime, cost: str) -> CompletionRecord:
    record = record_create(when, client_name=key.name, cost=cost)
    CompletionRecord.objects.filter(pk=record.pk).update(client=key)
    return record


@pytest.fixture
def budgets(local_noon):
    p = periods_at()
    before_today = p.day - timedelta(seconds=1)  # this month unless today is the 1st
    in_month = before_today >= p.month
    alpha = Team.objects.create(name="alpha", budget_usd_day=Decimal("10"), budget_usd_month=Decimal("100"))
    a1, a2 = _key("a1", alpha), _key("a2", alpha)
    _spend(a1, p.day, "4.000000000001")
    _spend(a2, timezone.now(), "2")
    _spend(a1, before_today, "30")
    _spend(a2, p.month - timedelta(seconds=1), "500")  # last month
    over = _key("over", budget_usd_day=Decimal("1"))
    _spend(over, timezone.now(), "1.5")
    _key("zero", budget_usd_month=Decimal("0"))  # blocked: nothing may be spent
    spender = _key("no-budget", rpm=10)  # limits, but no budget: not a row
    _spend(spender, timezone.now(), "7")
    Team.objects.create(name="rate-only", rpm=5)
    _key("=formula", alpha, budget_usd_month=Decimal("3"))  # in alpha, spent nothing
    return {"month_alpha": Decimal("36.000000000001") if in_month else Decimal("6.000000000001")}


def test_rows_are_teams_and_keys_with_a_budget_by_percent_used(budgets):
    report = budget_report()
    assert [(r.kind, r.name) for r in report.rows] == [
        ("key", "zero"),  # a zero budget is used up: first
        ("key", "over"),  # 150 %
        ("team", "alpha"),  # 60 % of its day
        ("key", "=formula"),  # 0 %
    ]
    zero, over, alpha, formula = report.rows
    assert (zero.month.percent, zero.over, zero.marks) == (None, True, ["month: used up"])
    assert (over.day.spent, over.day.percent, over.day.remaining, over.marks) == (
        Decimal("1.5"),
        Decimal("150.00"),
        Decimal(0),
        ["day: over budget"],
    )
    assert over.month is None
    assert alpha.day.spent == Decimal("6.000000000001")  # both keys', exactly
    assert alpha.day.percent == Decimal("60.00")  # 60.00000000001 %, rounded down
    assert alpha.month.spent == budgets["month_alpha"]
    assert alpha.day.remaining == Decimal("3.999999999999")
    assert not alpha.over and not formula.over and formula.month.percent == Decimal("0.00")


def test_the_report_page_shows_the_budgets(finance_client, budgets):
    resp = finance_client.get(REPORT)
    assert resp.status_code == 200
    html = resp.content.decode()
    section = html[html.index('id="finance-budgets"') :]
    names = re.findall(r'data-name="([^"]*)"', section)
    assert names == ["zero", "over", "alpha", "=formula"]
    rows = re.findall(r'<tr class="budget-row([^"]*)"', section)
    assert rows == [" over-budget", " over-budget", "", ""]
    assert "6.000000000001" in section and "3.999999999999" in section and "60.00 %" in section
    assert "day: over budget" in section and "month: used up" in section
    assert "(team alpha)" in section and "no-budget" not in section and "rate-only" not in section
    assert BUDGETS_CSV in section


def test_the_budgets_csv(finance_client, budgets):
    resp = finance_client.get(BUDGETS_CSV)
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.content.decode())))
    assert [(r["kind"], r["name"], r["over_budget"]) for r in rows] == [
        ("key", "zero", "yes"),
        ("key", "over", "yes"),
        ("team", "alpha", "no"),
        ("key", "'=formula", "no"),  # never a formula in a spreadsheet
    ]
    alpha = rows[2]
    assert (alpha["budget_usd_day"], alpha["spent_usd_day"], alpha["percent_day"], alpha["remaining_usd_day"]) == (
        "10",
        "6.000000000001",
        "60.00",
        "3.999999999999",
    )
    assert alpha["day"] == timezone.localdate(timezone=timezone.get_default_timezone()).isoformat()
    assert rows[1]["budget_usd_month"] == rows[1]["percent_month"] == ""  # no month budget
    assert rows[0]["percent_month"] == ""  # a zero budget has no percentage
    assert (rows[3]["team"], rows[3]["spent_usd_month"], rows[3]["remaining_usd_month"]) == ("alpha", "0", "3")


def test_no_budget_no_rows(finance_client):
    html = finance_client.get(REPORT).content.decode()
    assert "No team or client key has a budget." in html


def test_the_budgets_csv_is_for_the_finance_group_only(client, django_user_model):
    assert client.get(BUDGETS_CSV).status_code == 302
    client.force_login(django_user_model.objects.create_user("staff", password=PASSWORD, is_staff=True))
    assert client.get(BUDGETS_CSV).status_code == 403
