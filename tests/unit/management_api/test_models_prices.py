"""Models through the API: prices as exact decimal strings, ordered fallbacks, mode; each price
change is a new effective-dated price (source api, changed by the token's user); `prices?at=`
answers the price in force then. Bad input is 400 naming the fields, and writes nothing."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from providers_app.models import Model, ModelFallback, ModelPrice

NEW = {
    "name": "claude-x",
    "provider": "oa",
    "upstream_model": "claude-x-2026",
    "input_per_mtok": "3.000001",
    "output_per_mtok": "15",
    "fallbacks": ["gpt-mini", "gpt-big"],
    "mode": "chat",
}


def test_create_reads_back_prices_and_ordered_fallbacks_and_records_the_price(rows, admin_api):
    r = admin_api.post("/api/v1/models", NEW)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["input_per_mtok"] == "3.000001" and body["output_per_mtok"] == "15.000000"
    assert body["fallbacks"] == ["gpt-mini", "gpt-big"]
    got = admin_api.get(f"/api/v1/models/{body['id']}").json()
    assert got["fallbacks"] == ["gpt-mini", "gpt-big"] and got["cache_write_1h_per_mtok"] is None
    price = ModelPrice.objects.get(model_id=body["id"])
    assert (price.source, price.changed_by, str(price.input_per_mtok)) == ("api", "token:deploy-bot", "3.000001")


def test_a_price_edit_is_a_new_effective_dated_price_and_prices_at_answers_it(rows, admin_api, finance_api):
    model = rows["big"]
    first = ModelPrice.objects.filter(model=model).count()  # the factory's save may have none
    r = admin_api.patch(f"/api/v1/models/{model.pk}", {"input_per_mtok": "3.00"})
    assert r.status_code == 200, r.content
    r = admin_api.patch(f"/api/v1/models/{model.pk}", {"enabled": False})  # no price change: no new price
    assert r.status_code == 200
    history = list(ModelPrice.objects.filter(model=model).order_by("valid_from"))
    assert len(history) == first + 1 and str(history[-1].input_per_mtok) == "3.000000"
    # Make an older price to ask about: one valid from ten days ago.
    ModelPrice.objects.create(
        model=model,
        valid_from=timezone.now() - timedelta(days=10),
        input_per_mtok="2.50",
        output_per_mtok="10",
        source="initial",
    )
    day = (timezone.now() - timedelta(days=5)).date().isoformat()
    then = finance_api.get(f"/api/v1/models/{model.pk}/prices", {"at": day})
    assert then.status_code == 200 and [p["input_per_mtok"] for p in then.json()] == ["2.500000"]
    now = finance_api.get(f"/api/v1/models/{model.pk}/prices", {"at": timezone.now().isoformat()})
    assert [p["input_per_mtok"] for p in now.json()] == ["3.000000"]
    before = finance_api.get(f"/api/v1/models/{model.pk}/prices", {"at": "2000-01-01"})
    assert before.status_code == 200 and before.json() == []
    all_prices = finance_api.get(f"/api/v1/models/{model.pk}/prices").json()
    assert [p["input_per_mtok"] for p in all_prices][:2] == ["3.000000", "2.500000"]
    bad = finance_api.get(f"/api/v1/models/{model.pk}/prices", {"at": "last tuesday"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "at"


def test_bad_model_input_is_400_naming_each_field_and_writes_nothing(rows, admin_api):
    bad = {**NEW, "input_per_mtok": "-1", "provider": "nope", "fallbacks": ["gpt-mini", "ghost"], "mode": "video"}
    r = admin_api.post("/api/v1/models", bad)
    assert r.status_code == 400
    assert set(r.json()["error"]["fields"]) == {"input_per_mtok", "provider", "fallbacks", "mode"}
    assert not Model.objects.filter(name="claude-x").exists()
    r = admin_api.post("/api/v1/models", {**NEW, "fallbacks": ["claude-x"]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "fallbacks"
    r = admin_api.post("/api/v1/models", {**NEW, "input_per_mtok": "1" * 20})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input_per_mtok"
    r = admin_api.post("/api/v1/models", {**NEW, "name": "gpt-big"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "name"
    assert not Model.objects.filter(name="claude-x").exists() and not ModelFallback.objects.exists()
    r = admin_api.send("POST", "/api/v1/models", None)
    assert r.status_code == 400
    r = admin_api.client.post("/api/v1/models", "{not json", content_type="application/json", headers=admin_api.headers)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_fallbacks_replace_in_order_and_unknown_ids_are_404(rows, admin_api):
    r = admin_api.patch(f"/api/v1/models/{rows['big'].pk}", {"fallbacks": ["gpt-mini"]})
    assert r.status_code == 200 and r.json()["fallbacks"] == ["gpt-mini"]
    r = admin_api.patch(f"/api/v1/models/{rows['big'].pk}", {"fallbacks": []})
    assert r.json()["fallbacks"] == []
    r = admin_api.patch(f"/api/v1/models/{rows['big'].pk}", {"fallbacks": ["gpt-big"]})
    assert r.status_code == 400
    assert admin_api.get("/api/v1/models/999999").status_code == 404
    assert admin_api.get("/api/v1/models/not-a-number").status_code == 404


def test_a_misspelt_field_is_400_naming_it_and_read_only_fields_sent_back_are_ignored(rows, admin_api):
    r = admin_api.patch(f"/api/v1/models/{rows['big'].pk}", {"input_per_mtk": "9"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input_per_mtk"
    body = admin_api.get(f"/api/v1/models/{rows['big'].pk}").json()
    r = admin_api.send("PUT", f"/api/v1/models/{rows['big'].pk}", {**body, "output_per_mtok": "11"})
    assert r.status_code == 200 and r.json()["output_per_mtok"] == "11.000000"


def test_a_model_needs_input_and_output_prices_unless_free(rows, admin_api):
    bare = {k: v for k, v in NEW.items() if k not in ("input_per_mtok", "output_per_mtok", "fallbacks")}
    r = admin_api.post("/api/v1/models", bare)
    assert r.status_code == 400 and set(r.json()["error"]["fields"]) == {"input_per_mtok", "output_per_mtok"}
    r = admin_api.patch(f"/api/v1/models/{rows['big'].pk}", {"output_per_mtok": None})
    assert r.status_code == 400 and r.json()["error"]["param"] == "output_per_mtok"
    r = admin_api.post("/api/v1/models", {**bare, "name": "llama-local", "free": True})
    assert r.status_code == 201 and r.json()["free"] is True and r.json()["input_per_mtok"] is None
    history = admin_api.get(f"/api/v1/models/{r.json()['id']}/prices").json()
    assert [p["free"] for p in history] == [True]
