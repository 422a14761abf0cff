"""Price history: each price change of a model adds one effective-dated ModelPrice; a
write that changes nothing adds none; price_at answers the price in force at a moment."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from completions_app.services.config_load import config_load
from providers_app.models import Model, ModelPrice
from providers_app.prices import price_at, price_history_record


def _config(input_price: str) -> dict:
    return {
        "providers": [{"name": "oa", "kind": "openai", "keys": [{"label": "k", "secret": "sk-test"}]}],
        "models": [
            {
                "name": "gpt",
                "provider": "oa",
                "upstream_model": "gpt-4o",
                "input_per_mtok": input_price,
                "output_per_mtok": "10",
                "cache_write_1h_per_mtok": "6",
            }
        ],
    }


@pytest.mark.django_db
def test_loadconfig_records_a_price_only_when_it_changes():
    config_load(data=_config("2.5"))
    config_load(data=_config("2.5"))
    model = Model.objects.get(name="gpt")
    assert model.cache_write_1h_per_mtok == Decimal("6")
    assert [p.input_per_mtok for p in model.price_history.all()] == [Decimal("2.5")]
    config_load(data=_config("3"))
    history = list(model.price_history.all())
    assert [p.input_per_mtok for p in history] == [Decimal("3"), Decimal("2.5")]
    assert {p.source for p in history} == {ModelPrice.Source.LOADCONFIG}


@pytest.mark.django_db
def test_price_at_answers_the_price_in_force_then():
    config_load(data=_config("2.5"))
    model = Model.objects.get(name="gpt")
    first = model.price_history.get()
    ModelPrice.objects.filter(pk=first.pk).update(valid_from=timezone.now() - timedelta(days=10))
    model.input_per_mtok = Decimal("1")
    model.save()
    price_history_record(model, source=ModelPrice.Source.API, changed_by="token:ci")
    assert price_at(model, timezone.now() - timedelta(days=11)) is None
    assert price_at(model, timezone.now() - timedelta(days=5)).input_per_mtok == Decimal("2.5")
    latest = price_at(model, timezone.now())
    assert latest.input_per_mtok == Decimal("1") and latest.changed_by == "token:ci"
