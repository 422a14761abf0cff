"""The in-process catalog snapshot."""

import pytest
from django.db import connection

from completions_app.services.catalog import catalog_load
from providers_app.models import Provider
from tests.factories import model_create, provider_create


@pytest.mark.django_db
def test_a_key_that_cannot_be_decrypted_is_left_out_alone(caplog):
    p = provider_create("p", "openai", "http://127.0.0.1:1/v1", keys=("sk-good-key-1111", "sk-bad-key-2222"))
    model_create("m", p)
    bad = p.keys.get(label="key2")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE providers_app_providerkey SET secret = %s WHERE id = %s", ["fernet:not-a-token", bad.id])
    catalog = catalog_load()
    assert [k.secret for k in catalog.providers["p"].keys] == ["sk-good-key-1111"]
    assert catalog.models["m"].provider.name == "p"
    assert "cannot be decrypted" in caplog.text


@pytest.mark.django_db
def test_disabled_things_are_not_served():
    p = provider_create("p", "openai", "http://127.0.0.1:1/v1", keys=("sk-a-key-1111", "sk-b-key-2222"))
    off = provider_create("off", "ollama", "http://127.0.0.1:2", keys=())
    model_create("m", p)
    model_create("m-off", off)
    p.keys.filter(label="key1").update(enabled=False)
    Provider.objects.filter(name="off").update(enabled=False)
    catalog = catalog_load()
    assert set(catalog.models) == {"m"}
    assert [k.label for k in catalog.providers["p"].keys] == ["key2"]
