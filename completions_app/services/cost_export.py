"""Per-request cost records as CSV: one writer for exportcosts, the admin and the finance report.

Rows are streamed from the database with an iterator (constant memory for
any range); Decimal values are written in plain notation, exactly.

Texts come from clients (a model name, an x-request-id) and the file is opened in
spreadsheets: a text cell that starts with `=`, `+`, `-`, `@`, tab or carriage return
would be read as a formula, so it gets a leading `'` (OWASP's CSV-injection rule).
Numbers are never prefixed: a negative cost is still a number.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from ..models import CompletionRecord
from .cost import cost_format
from .records_query import records_filtered

HEADER = (
    "created_at,request_id,client,model,served_model,provider,provider_key,status,input_tokens,output_tokens,"
    "cache_read_tokens,cache_write_tokens,input_price_per_mtok,output_price_per_mtok,cost_usd,latency_ms,cached,stream,"
    # appended later: new columns only ever go at the end
    "usage_estimated,reasoning_tokens,finish_reason,end_user,"
    "cache_read_price_per_mtok,cache_write_price_per_mtok,cache_write_1h_tokens,cache_write_1h_price_per_mtok"
).split(",")


def records_select(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    client: str | None = None,
    model: str | None = None,
) -> QuerySet[CompletionRecord]:
    """exportcosts' records, oldest first (the management API filters more: records_query.py)."""
    return records_filtered(since=since, until=until, client=client, model=model).order_by("created_at", "id")


# Characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """A text cell no spreadsheet evaluates: prefixed with `'` when it starts like a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return text_cell(value)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return cost_format(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class _Line:
    """csv.writer target that hands back each formatted line."""

    def write(self, value: str) -> str:
        return value


def csv_lines(qs: QuerySet[CompletionRecord], *, chunk_size: int = 2000) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(HEADER)
    for r in qs.iterator(chunk_size=chunk_size):
        yield writer.writerow(
            [
                _cell(v)
                for v in (
                    r.created_at,
                    r.request_id,
                    r.client_name,
                    r.model,
                    r.served_model,
                    r.provider,
                    r.provider_key,
                    r.status,
                    r.input_tokens,
                    r.output_tokens,
                    r.cache_read_tokens,
                    r.cache_write_tokens,
                    r.input_price_per_mtok,
                    r.output_price_per_mtok,
                    r.cost_usd,
                    r.latency_ms,
                    r.cached,
                    r.stream,
                    r.usage_estimated,
                    r.reasoning_tokens,
                    r.finish_reason,
                    r.end_user,
                    r.cache_read_price_per_mtok,
                    r.cache_write_price_per_mtok,
                    r.cache_write_1h_tokens,
                    r.cache_write_1h_price_per_mtok,
                )
            ]
        )
