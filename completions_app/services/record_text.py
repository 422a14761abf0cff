"""Every text of an audit record made storable before it is queued, so no record is lost for its content.

A client chooses some of a record's texts (the model name, the request id): PostgreSQL refuses a
NUL in text, no database driver can encode a lone surrogate (a JSON escape such as "\\ud800"), and
PostgreSQL refuses a varchar longer than its column. Each such character is written as its JSON
escape (`\\u0000`, `\\ud800`: what the client sent), and a text longer than its column is cut to it,
its last character replaced by "…" so that the cut shows. SQLite gets the same texts as PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Any

from .record_sql import FIELDS, RecordRow

TRUNCATED = "…"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# (position in RecordRow, the column's max_length or None) for each text column.
_TEXTS: tuple[tuple[int, int | None], ...] = tuple(
    (i, f.max_length)
    for i, f in enumerate(FIELDS[1:])
    if not f.is_relation and f.get_internal_type() in {"CharField", "TextField"}
)
_ATTEMPTS = RecordRow._fields.index("attempts")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _unstorable(value: object) -> bool:
    return isinstance(value, str) and ("\x00" in value or (not value.isascii() and bool(_UNSTORABLE.search(value))))


def text_storable(value: str, max_length: int | None = None) -> str:
    """`value` with NUL and lone surrogates escaped, cut to `max_length` characters with a trailing "…"."""
    if _unstorable(value):
        value = _UNSTORABLE.sub(_escape, value)
    if max_length is not None and len(value) > max_length:
        value = value[: max_length - 1] + TRUNCATED
    return value


def _attempts_storable(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A JSON column: no length limit, but PostgreSQL's jsonb refuses \u0000 and lone surrogates too.
    return [{k: text_storable(v) if isinstance(v, str) else v for k, v in a.items()} for a in attempts]


def row_storable(row: RecordRow) -> RecordRow:
    """The row with every text storable on any database; the same row when nothing needed it (the usual case)."""
    changed: dict[int, Any] = {}
    for i, max_length in _TEXTS:
        value = row[i]
        # The usual text (ASCII, no NUL, fits) is checked inline: this runs on every request.
        if value.isascii() and "\x00" not in value and (max_length is None or len(value) <= max_length):
            continue
        fixed = text_storable(value, max_length)
        if fixed is not value:
            changed[i] = fixed
    if any(_unstorable(v) for a in row.attempts for v in a.values()):
        changed[_ATTEMPTS] = _attempts_storable(row.attempts)
    if not changed:
        return row
    values = list(row)
    for i, v in changed.items():
        values[i] = v
    return RecordRow(*values)
