"""The finance report's tables as CSV: one file per table (by day, model, provider, client, team).

The numbers are the table's own, exact (plain decimals, integers without separators): the
rows of a file sum to the report's totals. Names come from clients (model names, key
names): text cells are made formula-safe with the records CSV's helper.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date
from typing import Any

from completions_app.services.cost import cost_format
from completions_app.services.cost_export import text_cell
from completions_app.services.rollup import MONEY_FIELDS, TOKEN_FIELDS

TABLES = ("day", "model", "provider", "client", "team")
COUNT_FIELDS = ("requests", "errors", "cache_hits")
NUMBER_COLUMNS = (*COUNT_FIELDS, *TOKEN_FIELDS, *MONEY_FIELDS)


def summary_header(table: str) -> list[str]:
    return ["start", "end", table, *NUMBER_COLUMNS]


def summary_csv(*, start: date, end: date, table: str, rows: Iterable[dict[str, Any]]) -> str:
    """A table's rows (metrics_app.finance.table_rows) as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(summary_header(table))
    for r in rows:
        numbers = [str(r[f]) for f in (*COUNT_FIELDS, *TOKEN_FIELDS)]
        money = [cost_format(r[f]) for f in MONEY_FIELDS]  # as in the records CSV: "1.5", never "1.5E+0"
        writer.writerow([start.isoformat(), end.isoformat(), text_cell(r["name"] or ""), *numbers, *money])
    return out.getvalue()
