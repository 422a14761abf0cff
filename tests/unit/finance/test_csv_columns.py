"""The CSV's columns: the original ones keep their order; `usage_estimated`, `reasoning_tokens`,
`finish_reason` and `end_user` are appended after `stream` (a consumer reading columns by position keeps working)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from completions_app.models import CompletionRecord
from completions_app.services.cost_export import HEADER, csv_lines, records_select

from .conftest import record_create

ORIGINAL = (
    "created_at,request_id,client,model,served_model,provider,provider_key,status,input_tokens,output_tokens,"
    "cache_read_tokens,cache_write_tokens,input_price_per_mtok,output_price_per_mtok,cost_usd,latency_ms,cached,stream"
).split(",")


def test_new_columns_are_appended_after_the_original_columns():
    assert HEADER == [
        *ORIGINAL,
        "usage_estimated",
        "reasoning_tokens",
        "finish_reason",
        "end_user",
        "cache_read_price_per_mtok",
        "cache_write_price_per_mtok",
        "cache_write_1h_tokens",
        "cache_write_1h_price_per_mtok",
    ]


@pytest.mark.django_db
def test_usage_estimated_values():
    day = datetime(2026, 3, 10, 12, tzinfo=UTC)
    exact = record_create(day)
    estimated = record_create(day.replace(hour=13))
    CompletionRecord.objects.filter(pk=estimated.pk).update(usage_estimated=True, stream=True)
    rows = list(csv.DictReader(io.StringIO("".join(csv_lines(records_select())), newline="")))
    by_id = {row["request_id"]: row for row in rows}
    assert (by_id[exact.request_id]["stream"], by_id[exact.request_id]["usage_estimated"]) == ("false", "false")
    assert (by_id[estimated.request_id]["stream"], by_id[estimated.request_id]["usage_estimated"]) == ("true", "true")
    assert list(rows[0]) == HEADER


@pytest.mark.django_db
def test_reasoning_tokens_values():
    day = datetime(2026, 3, 10, 12, tzinfo=UTC)
    plain = record_create(day)
    reasoned = record_create(day.replace(hour=13), output_tokens=900)
    CompletionRecord.objects.filter(pk=reasoned.pk).update(reasoning_tokens=640)
    rows = list(csv.DictReader(io.StringIO("".join(csv_lines(records_select())), newline="")))
    by_id = {row["request_id"]: row for row in rows}
    assert (by_id[plain.request_id]["output_tokens"], by_id[plain.request_id]["reasoning_tokens"]) == ("20", "0")
    # Part of output_tokens, not added to them.
    assert (by_id[reasoned.request_id]["output_tokens"], by_id[reasoned.request_id]["reasoning_tokens"]) == (
        "900",
        "640",
    )
    assert list(rows[0])[19:22] == ["reasoning_tokens", "finish_reason", "end_user"]
