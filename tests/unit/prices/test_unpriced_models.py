"""A model with no price does not serve until an admin prices it or marks it free: the catalog
leaves it out (decided at load, not per request) and a request for it is told why; a free model
costs 0; loadconfig loads an unpriced model but warns."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import httpx
import pytest
import yaml
from django.core.management import CommandError, call_command

from aiproxy.asgi import application
from completions_app.services.catalog import catalog_has_model, catalog_invalidate, catalog_load
from completions_app.services.completion import completion_create
from completions_app.services.db import db_run
from providers_app.errors import ModelNotFound
from providers_app.models import Model
from tests.factories import client_create, model_create, provider_create
from tests.unit.services.conftest import gw

__all__ = ["gw"]  # the fixture, used by name

ZERO = Decimal(0)


@pytest.mark.django_db
def test_the_catalog_leaves_out_an_unpriced_model_and_says_why(caplog):
    ol = provider_create("ol", "ollama", "http://127.0.0.1:11434", keys=())
    model_create("no-price", ol, input_price=None, output_price=None)
    model_create("half-price", ol, input_price="1", output_price=None)
    model_create("free", ol, input_price=None, output_price=None, free=True)
    model_create("free-priced", ol, input_price="5", output_price="9", free=True)  # free wins: it costs nothing
    model_create("priced", ol, input_price="0.5", output_price="1.5")
    catalog = catalog_load()
    assert set(catalog.models) == {"free", "free-priced", "priced"}
    assert catalog.unpriced == frozenset({"no-price", "half-price"})
    for name in ("free", "free-priced"):
        p = catalog.models[name].prices
        assert (p.input, p.output, p.cache_read, p.cache_write) == (ZERO, ZERO, ZERO, ZERO)
    assert catalog.models["priced"].prices.cache_read == Decimal("0.5")  # empty cache price: the input price
    assert "model no-price has no price and is not marked free; left out (it will not serve)" in caplog.text
    # A reload that finds the same models unpriced says nothing more (it runs every CATALOG_TTL_S).
    caplog.clear()
    Model.objects.filter(name="half-price").update(output_per_mtok=None, input_per_mtok=None)
    model_create("new-no-price", Model.objects.get(name="free").provider, input_price=None, output_price=None)
    again = catalog_load(previous=catalog)
    assert again.unpriced == frozenset({"no-price", "half-price", "new-no-price"})
    assert "new-no-price" in caplog.text and "half-price" not in caplog.text and "model no-price" not in caplog.text


@pytest.mark.django_db(transaction=True)
async def test_a_request_for_an_unpriced_model_is_told_it_has_no_price(gw):
    await db_run(
        lambda: model_create(
            "unpriced", Model.objects.get(name="gpt-mini").provider, input_price=None, output_price=None
        )
    )
    catalog_invalidate()
    with pytest.raises(ModelNotFound, match=r"Model 'unpriced' has no price set, so it cannot serve"):
        await completion_create(gw.inp(model="unpriced"), gw.ctx())
    with pytest.raises(ModelNotFound, match=r"^Unknown model 'nope'\.$"):  # an unknown name: as before
        await completion_create(gw.inp(model="nope"), gw.ctx())
    [unpriced, unknown] = await gw.records()
    assert (unpriced.status, unpriced.error_type, unpriced.http_status) == ("error", "not_found_error", 404)
    assert (unpriced.model, unknown.model) == ("unpriced", "nope")
    assert gw.fake.requests == []  # never sent upstream
    # An admin's model name: a bounded metrics label; a client's junk name is not.
    assert catalog_has_model("unpriced") and not catalog_has_model("nope")


@pytest.mark.django_db(transaction=True)
async def test_the_http_answer_names_the_missing_price():
    def setup() -> str:
        ol = provider_create("ol", "ollama", "http://127.0.0.1:9", keys=())
        model_create("unpriced", ol, input_price=None, output_price=None)
        return client_create("caller")

    key = await db_run(setup)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        resp = await http.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "unpriced", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert resp.status_code == 404
    error = resp.json()["error"]
    assert error["type"] == "not_found_error"
    assert "has no price set" in error["message"] and "mark it free" in error["message"]


@pytest.mark.django_db(transaction=True)
async def test_a_free_model_costs_nothing(gw):
    await db_run(
        lambda: model_create(
            "local-free", Model.objects.get(name="llama").provider, upstream="llama3.1:8b", input_price=None,
            output_price=None, free=True,
        )
    )  # fmt: skip
    catalog_invalidate()
    result = await completion_create(gw.inp(model="local-free", text="one two three"), gw.ctx())
    assert result.usage.input_tokens > 0 and result.cost_usd == ZERO
    [record] = await gw.records()
    assert (record.model, record.cost_usd, record.input_price_per_mtok, record.output_price_per_mtok) == (
        "local-free",
        ZERO,
        ZERO,
        ZERO,
    )


# --- loadconfig ---------------------------------------------------------------------------------
def _config(tmp_path, **model: object):
    data = {
        "providers": [{"name": "local", "kind": "ollama", "base_url": "http://127.0.0.1:11434"}],
        "models": [{"name": "llama", "provider": "local", "upstream_model": "llama3.1:8b", **model}],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _load(path: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("loadconfig", path, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_loadconfig_warns_of_a_model_without_a_price_and_still_loads_it(tmp_path):
    out, err = _load(_config(tmp_path))
    assert err == "warning: model llama has no price and is not marked free: it will not serve\n"
    assert "loaded 1 providers, 0 keys, 1 models" in out
    model = Model.objects.get(name="llama")
    assert (model.input_per_mtok, model.output_per_mtok, model.free) == (None, None, False)
    out, err = _load(_config(tmp_path, output_per_mtok="1"))  # half a price is no price
    assert "model llama has no price" in err


@pytest.mark.django_db
def test_loadconfig_free_true_needs_no_price(tmp_path):
    out, err = _load(_config(tmp_path, free=True))
    assert err == ""
    model = Model.objects.get(name="llama")
    assert model.free and model.input_per_mtok is None
    [row] = model.price_history.all()
    assert (row.free, row.source) == (True, "loadconfig")
    assert _load(_config(tmp_path, free=True)) == (out, "")  # idempotent: no new history row either
    assert model.price_history.count() == 1
    _load(_config(tmp_path, input_per_mtok="0", output_per_mtok="0"))  # priced at 0, no longer free: a new row
    assert [r.free for r in model.price_history.all()] == [False, True]


@pytest.mark.django_db
def test_loadconfig_free_must_be_a_boolean(tmp_path):
    with pytest.raises(CommandError, match=r"model 'llama'\.free: must be true or false"):
        _load(_config(tmp_path, free="yes"))
    assert not Model.objects.exists()
