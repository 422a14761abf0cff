"""A record is never dropped for its content (issue 14, item 9): every text of a row is made
storable (completions_app/services/record_text.py) before it is queued."""

from __future__ import annotations

import pytest

from completions_app.models import CompletionRecord
from completions_app.services.completion import completion_create
from completions_app.services.record_text import row_storable, text_storable
from providers_app.errors import ModelNotFound

from .records_support import row, sample, write

STORABLE_CHANGED = (
    "request_id",
    "client_name",
    "interface",
    "served_model",
    "provider",
    "provider_key",
    "finish_reason",
    "attempts",
)


async def test_an_unknown_model_name_longer_than_its_column_is_still_recorded(gw):
    long_name = "m" * 300
    with pytest.raises(ModelNotFound):
        await completion_create(gw.inp(model=long_name), gw.ctx())
    [record] = await gw.records()
    assert record.status == "error" and record.error_type == ModelNotFound.code
    # PostgreSQL's varchar(200) would refuse it: cut to fit, on every database, and the cut shows.
    assert record.model == "m" * 199 + "…"


# --- a record is never dropped for its content (issue 14, item 9) ---------------------------------
@pytest.mark.parametrize(
    ("model", "stored_model"),
    [
        ("gpt\x00mini", "gpt\\u0000mini"),  # PostgreSQL refuses NUL in text
        ("gpt\ud800mini", "gpt\\ud800mini"),  # no driver can encode a lone surrogate
        ("\udfff" + "é" * 9_999, "\\udfff" + "é" * 193 + "…"),  # escaped, then cut
        ("x" * 10_000, "x" * 199 + "…"),
    ],
    ids=["nul", "lone-surrogate", "surrogate-and-long", "10k-chars"],
)
async def test_a_request_with_an_unstorable_model_name_leaves_one_record(gw, model, stored_model):
    with pytest.raises(ModelNotFound):
        await completion_create(gw.inp(model=model), gw.ctx(request_id="odd\x00id"))
    [record] = await gw.records()
    assert (record.model, record.request_id) == (stored_model, "odd\\u0000id")
    assert record.status == "error" and record.error_type == ModelNotFound.code


def test_every_text_of_a_row_is_made_storable(transactional_db):
    raw = row(
        request_id="r" * 500,
        client_name="c\x00",
        interface="\ud800",
        served_model="s" * 201,
        provider="p\udc00q",
        provider_key="k\x00" * 60,
        error_type="e" * 64,  # exactly its column: unchanged
        finish_reason="f" * 40,
        attempts=[{"model": "a\x00", "provider": "p\ud800", "key": "k", "outcome": "ok"}],
    )
    fixed = row_storable(raw)
    assert fixed.request_id == "r" * 127 + "…"
    assert (fixed.client_name, fixed.interface, fixed.provider) == ("c\\u0000", "\\ud800", "p\\udc00q")
    assert fixed.served_model == "s" * 199 + "…"
    assert fixed.provider_key == ("k\\u0000" * 15)[:99] + "…"
    assert fixed.error_type == "e" * 64
    assert fixed.finish_reason == "f" * 31 + "…"
    assert fixed.attempts == [{"model": "a\\u0000", "provider": "p\\ud800", "key": "k", "outcome": "ok"}]
    # Every other value, and the row's type, as they were.
    assert fixed._replace(**{k: getattr(raw, k) for k in STORABLE_CHANGED}) == raw
    write(fixed)
    assert CompletionRecord.objects.get().request_id == fixed.request_id


def test_a_clean_row_is_handed_on_as_it_is():
    clean = row(model="gpt-ümlaut ✓ 模型", attempts=[{"model": "m", "provider": "p", "key": "", "outcome": "ok"}])
    assert row_storable(clean) is clean
    assert text_storable("ok") == "ok" and text_storable("abc", 3) == "abc" and text_storable("abcd", 3) == "ab…"


@pytest.mark.postgres
def test_postgresql_refuses_the_raw_text_and_takes_the_storable_one(transactional_db, caplog):
    dropped = sample("ai_proxy_records_dropped_total")
    raw = row(request_id="nul", model="gpt\x00mini")
    write(raw)  # straight to the writer, as before the fix: PostgreSQL refuses it, the record is lost
    assert not CompletionRecord.objects.exists()
    assert sample("ai_proxy_records_dropped_total") == dropped + 1
    assert "cannot contain NUL" in caplog.text
    write(row_storable(raw))
    assert list(CompletionRecord.objects.values_list("model", flat=True)) == ["gpt\\u0000mini"]
