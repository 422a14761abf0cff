"""Records: filters, cursor pages that visit every record once, the exportcosts CSV; the
summary's sums equal the CSV's exactly on a few thousand records with 12-decimal costs."""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from completions_app.models import ClientKey, CompletionRecord, Team
from completions_app.services.cost_export import HEADER
from tests.factories import client_create

START = datetime(2026, 10, 1, tzinfo=UTC)
N = 3000
MODELS = (("gpt-mini", "oa"), ("claude-h", "an"), ("llama", "ol"))


@pytest.fixture
def records(db):
    client_create("svc-a")
    client_create("svc-b")
    team = Team.objects.create(name="search")
    ClientKey.objects.filter(name="svc-a").update(team=team)
    keys = {k.name: k for k in ClientKey.objects.all()}
    rng = random.Random(17)
    rows = []
    for i in range(N):
        model, provider = rng.choice(MODELS)
        client = rng.choice(["svc-a", "svc-b"])
        status = rng.choice(["ok"] * 6 + ["error", "cache_hit"])
        cost = Decimal(rng.randrange(0, 3_000_000_000_000)).scaleb(-12)
        rows.append(
            CompletionRecord(
                created_at=START + timedelta(minutes=rng.randrange(0, 60 * 24 * 5)),
                request_id=f"r{i}",
                client=keys[client],
                client_name=client,
                model=model,
                served_model=model,
                provider=provider,
                status=status,
                cached=status == "cache_hit",
                input_tokens=rng.randrange(0, 5000),
                output_tokens=rng.randrange(0, 5000),
                cost_usd=cost,
                cost_saved_usd=cost if status == "cache_hit" else Decimal(0),
            )
        )
    CompletionRecord.objects.bulk_create(rows, batch_size=500)


def _csv(api, params: dict | None = None) -> list[dict[str, str]]:
    r = api.get("/api/v1/records", {"format": "csv", **(params or {})})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv"), r
    text = b"".join(r.streaming_content).decode()
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == HEADER  # exportcosts' columns, in its order
    return list(reader)


def test_summary_equals_the_csv_sums_exactly(records, finance_api):
    lines = _csv(finance_api)
    assert len(lines) == N
    expected: dict[tuple[str, str], list] = defaultdict(lambda: [0, Decimal(0), 0])
    for line in lines:
        group = expected[(line["created_at"][:10], line["model"])]
        group[0] += 1
        group[1] += Decimal(line["cost_usd"])
        group[2] += int(line["input_tokens"])
    r = finance_api.get("/api/v1/costs/summary", {"group_by": "day,model"})
    assert r.status_code == 200, r.content
    got = {(row["day"][:10], row["model"]): [row["requests"], Decimal(row["cost_usd"]), row["input_tokens"]]
           for row in r.json()}  # fmt: skip
    assert got == dict(expected)
    assert all(isinstance(row["cost_usd"], str) for row in r.json())
    total = finance_api.get("/api/v1/costs/summary").json()
    assert len(total) == 1 and Decimal(total[0]["cost_usd"]) == sum(Decimal(x["cost_usd"]) for x in lines)


def test_summary_filters_and_groups_like_the_records(records, finance_api):
    params = {"team": "search", "status": "ok", "since": "2026-10-02", "until": "2026-10-04T12:00:00Z"}
    lines = _csv(finance_api, params)
    assert lines and {x["client"] for x in lines} == {"svc-a"} and {x["status"] for x in lines} == {"ok"}
    rows = finance_api.get("/api/v1/costs/summary", {**params, "group_by": "hour,provider,client,team"}).json()
    assert sum(r["requests"] for r in rows) == len(lines)
    assert sum(Decimal(r["cost_usd"]) for r in rows) == sum(Decimal(x["cost_usd"]) for x in lines)
    assert {r["team"] for r in rows} == {"search"} and all(r["hour"].endswith(":00:00Z") for r in rows)


@pytest.mark.parametrize(
    ("params", "field", "word"),
    [
        ({"group_by": "day,week"}, "group_by", "week"),
        ({"group_by": "model,model"}, "group_by", "repeated"),
        ({"since": "yesterday"}, "since", "ISO"),
        ({"since": "2026-10-03", "until": "2026-10-02"}, "until", "after"),
        ({"status": "fine"}, "status", "fine"),
        ({"cached": "maybe"}, "cached", "boolean"),
    ],
)
def test_bad_summary_parameters_are_400_naming_them(records, finance_api, params, field, word):
    r = finance_api.get("/api/v1/costs/summary", params)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == field and word.lower() in error["message"].lower(), error
    if field != "group_by":  # the records' listing takes the same filters, checked the same way
        for fmt in ("json", "csv"):
            r = finance_api.get("/api/v1/records", {**params, "format": fmt})
            assert r.status_code == 400 and r.json()["error"]["param"] == field


def test_cursor_pages_visit_every_record_once_with_filters(records, finance_api):
    seen: list[str] = []
    r = finance_api.get("/api/v1/records", {"page_size": 400, "cached": "false", "model": "gpt-mini"})
    while True:
        assert r.status_code == 200, r.content
        page = r.json()
        assert len(page["results"]) <= 400
        seen += [x["id"] for x in page["results"]]
        if not page["next"]:
            break
        r = finance_api.client.get(page["next"], headers=finance_api.headers)
    expected = CompletionRecord.objects.filter(cached=False, model="gpt-mini")
    assert len(seen) == len(set(seen)) == expected.count()
    first = finance_api.get(f"/api/v1/records/{seen[0]}").json()
    assert first["model"] == "gpt-mini" and first["cached"] is False and isinstance(first["cost_usd"], str)
    assert finance_api.get("/api/v1/records", {"cursor": "junk"}).status_code == 404


def test_each_filter_selects_what_it_names(records, finance_api):
    for params, expected in [
        ({"client": "svc-b"}, CompletionRecord.objects.filter(client_name="svc-b")),
        ({"provider": "an"}, CompletionRecord.objects.filter(provider="an")),
        ({"cached": "true"}, CompletionRecord.objects.filter(cached=True)),
        ({"status": "error"}, CompletionRecord.objects.filter(status="error")),
        ({"until": "2026-10-02"}, CompletionRecord.objects.filter(created_at__lt=START + timedelta(days=1))),
    ]:
        assert len(_csv(finance_api, params)) == expected.count(), params


def test_csv_is_for_the_listing_and_other_methods_are_405(records, finance_api, admin_api):
    record_id = CompletionRecord.objects.values_list("id", flat=True).first()
    assert finance_api.get(f"/api/v1/records/{record_id}", {"format": "csv"}).status_code == 404
    for method in ("POST", "PUT", "DELETE"):
        r = admin_api.send(method, "/api/v1/records?format=csv", {})
        assert r.status_code == 405 and r.json()["error"]["type"] == "method_not_allowed"
    assert admin_api.client.generic("TRACE", "/api/v1/records?format=csv", headers=admin_api.headers).status_code == 405
