"""The request's `user` is on its record (`end_user`) whatever the provider kind: Ollama's API
has no place for it, so the record is where it is kept (never dropped silently)."""

from __future__ import annotations

import csv
import io

import pytest

from completions_app.services.completion import completion_create
from completions_app.services.cost_export import csv_lines, records_select

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("model", ["llama", "gpt-mini", "claude-h"])
async def test_the_end_user_is_recorded_on_every_kind(gw, model):
    await completion_create(gw.inp(model=model, user="alice@example"), gw.ctx())
    [record] = await gw.records()
    assert record.end_user == "alice@example"


async def test_the_end_user_is_a_csv_column(gw):
    await completion_create(gw.inp(user="=bob"), gw.ctx())  # a formula-like name stays text
    await gw.records()
    from completions_app.services.db import db_run

    text = await db_run(lambda: "".join(csv_lines(records_select())))
    [row] = list(csv.DictReader(io.StringIO(text, newline="")))
    assert row["end_user"] == "'=bob"
