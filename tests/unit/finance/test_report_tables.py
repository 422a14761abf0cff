"""The report's tables on realistic data: each row is the exact sum of the records its drill-down
link selects, the previous period's totals, the tables' CSVs, teams and the unknown-model row."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from completions_app.models import CompletionRecord
from completions_app.services.cost_export import text_cell
from metrics_app.formatting import change_text, money_exact, money_text
from metrics_app.groups import NO_TEAM, UNKNOWN_MODEL
from metrics_app.summary_csv import NUMBER_COLUMNS, TABLES

from .report_data import CATALOG, KEYS, UNKNOWN_NAMES, realistic_records

pytestmark = pytest.mark.django_db

REPORT = reverse("finance:report")
TODAY = date(2026, 3, 15)
RANGE = {"start": "2026-03-08", "end": "2026-03-15"}  # 8 days; the 8 before have records too
PREVIOUS = (date(2026, 2, 28), date(2026, 3, 7))


@pytest.fixture
def data():
    return realistic_records(today=TODAY)


def _between(start: date, end: date) -> dict:
    return {
        "created_at__gte": datetime.combine(start, time.min, tzinfo=UTC),
        "created_at__lt": datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    }


def _sums(qs) -> dict:
    """The reference: Python's sums over the rows as the ORM reads them."""
    rows = list(qs)
    out: dict = {f: sum((getattr(r, f) for r in rows), Decimal(0)) for f in ("cost_usd", "cost_saved_usd")}
    for f in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
        out[f] = sum(getattr(r, f) for r in rows)
    out["requests"] = len(rows)
    out["errors"] = sum(r.status == "error" for r in rows)
    out["cache_hits"] = sum(r.cached for r in rows)
    return out


def _drilled(client, url: str):
    """The records the admin list shows for a drill-down link (its filtered queryset)."""
    resp = client.get(url)
    assert resp.status_code == 200, url  # a lookup the admin refuses redirects with ?e=1
    return resp.context["cl"].queryset


def test_every_row_equals_the_records_its_link_selects_in_the_admin(finance_client, data):
    report = finance_client.get(REPORT, RANGE).context["report"]
    rng = _between(date(2026, 3, 8), TODAY)
    assert report.totals["requests"] > 50
    tables = {"day": report.by_day, **report.by_group}
    for name, rows in tables.items():
        assert sum((r["cost_usd"] for r in rows), Decimal(0)) == report.totals["cost_usd"], name
        assert sum(r["requests"] for r in rows) == report.totals["requests"], name
        for row in rows:
            if row["url"] is None:
                continue
            expected = _sums(_drilled(finance_client, row["url"]))
            assert {k: row[k] for k in expected} == expected, (name, row["name"])
    # Every team row links, "(no team)" too: records without a key or of a key without a team.
    assert all(r["url"] is not None for r in report.by_group["team"])
    no_team = next(r for r in report.by_group["team"] if r["name"] == NO_TEAM)
    assert no_team["cost_usd"] == _sums(CompletionRecord.objects.filter(**rng, client__team__isnull=True))["cost_usd"]


def test_teams_are_their_keys_records(finance_client, data):
    report = finance_client.get(REPORT, RANGE).context["report"]
    rng = _between(date(2026, 3, 8), TODAY)
    teams = {r["name"]: r for r in report.by_group["team"]}
    assert set(teams) == {*(t for t in KEYS.values() if t), NO_TEAM}
    for team in set(KEYS.values()) - {""}:
        keys = [k for k, t in KEYS.items() if t == team]
        assert (
            teams[team]["cost_usd"] == _sums(CompletionRecord.objects.filter(**rng, client_name__in=keys))["cost_usd"]
        )


def test_unknown_models_are_one_row_and_known_ones_stay_apart(finance_client, data):
    rng = _between(date(2026, 3, 8), TODAY)
    # A known model that failed before any provider answered is not "unknown"; neither is a
    # model deleted from the catalog after it served requests.
    CompletionRecord.objects.create(
        created_at=datetime(2026, 3, 9, 8, tzinfo=UTC),
        request_id="known-404",
        model="gpt-4o",
        status="error",
        http_status=429,
    )
    CompletionRecord.objects.create(
        created_at=datetime(2026, 3, 9, 9, tzinfo=UTC),
        request_id="retired",
        model="old-model",
        served_model="old-model",
        provider="openai",
        cost_usd=Decimal("0.5"),
        status="ok",
    )
    report = finance_client.get(REPORT, RANGE).context["report"]
    names = [r["name"] for r in report.by_group["model"]]
    assert names.count(UNKNOWN_MODEL) == 1
    assert not set(UNKNOWN_NAMES) & set(names)
    assert set(names) == {*(m for m, *_ in CATALOG), "old-model", UNKNOWN_MODEL}
    unknown = next(r for r in report.by_group["model"] if r["unknown"])
    in_range = CompletionRecord.objects.filter(**rng, model__in=UNKNOWN_NAMES)
    assert unknown["requests"] == in_range.count() > 1
    assert len(set(in_range.values_list("model", flat=True))) > 1  # several names, one row
    assert unknown["errors"] == unknown["requests"] and unknown["cost_usd"] == 0
    # Its link lists the names (as a lookup the admin accepts) and selects exactly those records.
    assert set(_drilled(finance_client, unknown["url"])) == set(in_range)
    gpt4o = next(r for r in report.by_group["model"] if r["name"] == "gpt-4o")
    assert gpt4o["requests"] == CompletionRecord.objects.filter(**rng, model="gpt-4o").count()


def test_chart_draws_only_models_that_cost_something(finance_client, data):
    report = finance_client.get(REPORT, RANGE).context["report"]
    series = [s["model"] for s in report.chart["series"]]
    costly = [r["name"] for r in report.by_group["model"] if r["cost_usd"] > 0]
    assert series == costly  # biggest first
    assert "llama3" not in series and UNKNOWN_MODEL not in series  # free, and 404s: nothing to draw
    for s in report.chart["series"]:
        assert sum(Decimal(c) for c in s["costs"]) == next(
            r["cost_usd"] for r in report.by_group["model"] if r["name"] == s["model"]
        )


def test_previous_period_totals_and_change(finance_client, data):
    resp = finance_client.get(REPORT, RANGE)
    report = resp.context["report"]
    assert (report.previous_start, report.previous_end) == PREVIOUS
    expected = _sums(CompletionRecord.objects.filter(**_between(*PREVIOUS)))
    assert {k: report.previous[k] for k in expected} == expected
    assert expected["requests"] > 50  # a real comparison, not zeros
    html = resp.content.decode()
    cost, before = report.totals["cost_usd"], report.previous["cost_usd"]
    block = html[html.index('id="total-cost-previous"') :]
    block = block[: block.index("</dd>")]
    assert f'title="{money_exact(before)}">{money_text(before)}</span>' in block
    assert change_text(cost, before) in block and change_text(cost, before).endswith(" %")


def test_nothing_before_is_new_and_nothing_at_all_is_a_dash(finance_client, data):
    resp = finance_client.get(REPORT, {"start": "2026-02-23", "end": "2026-03-01"})  # data starts 2026-02-23
    html = resp.content.decode()
    assert resp.context["report"].previous["requests"] == 0
    block = html[html.index('id="total-requests-previous"') :]
    assert '<span class="change up">new</span>' in block[: block.index("</dd>")]
    html = finance_client.get(REPORT, {"start": "2020-01-01", "end": "2020-01-02"}).content.decode()
    block = html[html.index('id="total-cost-previous"') :]
    assert '<span class="change same">—</span>' in block[: block.index("</dd>")]


# --- the tables as CSV ------------------------------------------------------------------
def _csv(resp) -> list[dict[str, str]]:
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(resp.content.decode(), newline="")))


def test_each_table_csv_is_the_table_exactly(finance_client, data):
    page = finance_client.get(REPORT, RANGE)
    report, tables = page.context["report"], {t["name"]: t for t in page.context["tables"]}
    html = page.content.decode()
    assert list(tables) == list(TABLES)
    for name in TABLES:
        url = tables[name]["csv_url"]
        assert dict(parse_qsl(urlsplit(url).query)) == RANGE  # the link carries the range
        assert url.replace("&", "&amp;") in html
        rows = _csv(finance_client.get(url))
        table = tables[name]["rows"]
        assert [r[name] for r in rows] == [text_cell(t["name"] or "") for t in table]
        for line, row in zip(rows, table, strict=True):
            assert (line["start"], line["end"]) == (RANGE["start"], RANGE["end"])
            for column in NUMBER_COLUMNS:
                parse = Decimal if column.endswith("_usd") else int
                assert parse(line[column]) == row[column], (name, row["name"], column)
                assert "," not in line[column] and "E" not in line[column]  # exact, not formatted
        assert sum(Decimal(r["cost_usd"]) for r in rows) == report.totals["cost_usd"]
        assert sum(int(r["requests"]) for r in rows) == report.totals["requests"]


def test_table_csv_names_are_formula_safe(finance_client, data):
    CompletionRecord.objects.create(
        created_at=datetime(2026, 3, 9, tzinfo=UTC),
        request_id="evil",
        client_name="=HYPERLINK(1)",
        model="@SUM(1)",
        provider="+2",
        status="ok",
        cost_usd=Decimal("-0.25"),
    )
    for table, cell in (("client", "'=HYPERLINK(1)"), ("provider", "'+2"), ("model", "'@SUM(1)")):
        rows = _csv(finance_client.get(reverse("finance:summary_export", args=[table]), RANGE))
        row = next(r for r in rows if r[table] == cell)
        assert row["cost_usd"] == "-0.25"  # a number stays a number


def test_table_csv_bad_input(finance_client, data):
    url = reverse("finance:summary_export", args=["model"])
    assert finance_client.get(reverse("finance:summary_export", args=["records"]), RANGE).status_code == 404
    assert finance_client.get(url, {"start": "2026-03-15", "end": "2026-03-01"}).status_code == 400
    assert finance_client.get(url, {"preset": "forever"}).status_code == 400
    assert Client().get(url, RANGE).status_code == 302  # not signed in: the login page


def test_the_report_is_the_same_few_queries_whatever_the_records(finance_client, data):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as q:
            assert finance_client.get(REPORT, RANGE).status_code == 200
        return len(q.captured_queries)

    before = queries()
    for i in range(40):  # new clients, new junk model names, more days
        CompletionRecord.objects.create(
            created_at=datetime(2026, 3, 8 + i % 8, i % 24, tzinfo=UTC),
            request_id=f"more-{i}",
            client_name=f"client-{i}",
            model=f"no-such-model-{i}",
            status="error",
            http_status=404,
        )
    assert queries() == before <= 20
