"""The admin's prices: the "Sync prices from the catalogue" action (a confirmation page listing the
differences, then applying on confirm), the read-only price history on a model's page, and the
model form requiring prices unless the model is free."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

from providers_app.models import Model, ModelPrice
from providers_app.prices import price_history_record
from tests.factories import model_create, provider_create

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:providers_app_model_changelist")


@pytest.fixture
def admin_http(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456789"))
    return client


@pytest.fixture
def models(catalogue):
    an = provider_create("an", "anthropic", "")
    claude = model_create("claude", an, upstream="claude-flat", input_price="2.5", output_price="15")
    mystery = model_create("mystery", an, upstream="claude-mystery")
    for m in (claude, mystery):
        price_history_record(m, source=ModelPrice.Source.INITIAL, changed_by="setup")
    return claude, mystery


def _action(http, models, **extra):
    data = {"action": "sync_prices", ACTION_CHECKBOX_NAME: [m.pk for m in models], **extra}
    return http.post(CHANGELIST, data)


def test_the_action_shows_the_differences_first_and_changes_nothing(admin_http, models):
    page = _action(admin_http, models)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Sync prices from the catalogue" in html and "genai-prices" in html
    assert "1 model differs from the catalogue" in html
    assert "<tr><td>input_per_mtok</td><td>2.5</td><td>3</td></tr>" in html
    assert "<tr><td>cache_write_1h_per_mtok</td><td>(= 5-minute)</td><td>6</td></tr>" in html
    assert "mystery (an / claude-mystery): not in catalogue: the catalogue&#x27;s anthropic has no model" in html
    assert 'name="post" value="yes"' in html  # the confirming form posts the same selection back
    assert html.count(f'name="{ACTION_CHECKBOX_NAME}"') == 2
    assert Model.objects.get(name="claude").input_per_mtok == Decimal("2.5")
    assert not ModelPrice.objects.filter(source=ModelPrice.Source.SYNCPRICES).exists()


def test_confirming_applies_the_catalogue_prices_as_a_new_effective_dated_price(admin_http, models):
    done = _action(admin_http, models, post="yes")
    assert done.status_code == 302
    claude = Model.objects.get(name="claude")
    assert (claude.input_per_mtok, claude.cache_write_1h_per_mtok) == (Decimal("3"), Decimal("6"))
    row = ModelPrice.objects.get(model=claude, source=ModelPrice.Source.SYNCPRICES)
    assert (row.changed_by, row.input_per_mtok) == ("root", Decimal("3"))
    messages = [str(m) for m in admin_http.get(CHANGELIST).context["messages"]]
    assert any("to 1 model(s): claude." in m for m in messages)
    # Again: nothing differs, the page says so and offers nothing to apply.
    html = _action(admin_http, models).content.decode()
    assert "No selected model differs from the catalogue: nothing to apply." in html
    assert 'name="post"' not in html
    _action(admin_http, models, post="yes")
    assert ModelPrice.objects.filter(model=claude).count() == 2


def test_a_staff_user_without_change_permission_cannot_run_it(client, django_user_model, models):
    viewer = django_user_model.objects.create_user("viewer", password="pw-123456789", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_model", content_type__app_label="providers_app"))
    client.force_login(viewer)
    _action(client, models, post="yes")
    assert Model.objects.get(name="claude").input_per_mtok == Decimal("2.5")


def test_the_change_page_shows_the_price_history_newest_first(admin_http, db):
    p = provider_create("oa", "openai", "")
    m = model_create("gpt", p, input_price="2.5", output_price="10")
    price_history_record(m, source=ModelPrice.Source.INITIAL, changed_by="setup")
    m.input_per_mtok = Decimal("1.75")
    m.save()
    price_history_record(m, source=ModelPrice.Source.ADMIN, changed_by="alice")
    html = admin_http.get(reverse("admin:providers_app_model_change", args=[m.pk])).content.decode()
    assert "Price history (newest first; each change adds a row)" in html
    assert html.index("1.750000") < html.index("2.500000")  # newest first
    assert "alice" in html and "setup" in html
    # Read-only: no input of the history rows, no add-another link.
    assert 'name="price_history-0-input_per_mtok"' not in html
    assert "Add another price" not in html


def _model_form(p, **fields):
    data = {
        "name": "new-model",
        "provider": p.pk,
        "upstream_model": "llama3.1:8b",
        "enabled": "on",
        "fallback_links-TOTAL_FORMS": "0",
        "fallback_links-INITIAL_FORMS": "0",
    }
    return {**data, **fields}


def test_the_model_form_requires_prices_unless_free(admin_http, db):
    p = provider_create("ol", "ollama", "http://127.0.0.1:11434", keys=())
    add = reverse("admin:providers_app_model_add")
    refused = admin_http.post(add, _model_form(p))
    assert refused.status_code == 200
    assert "Required unless the model is marked free" in refused.content.decode()
    assert not Model.objects.exists()
    assert admin_http.post(add, _model_form(p, free="on")).status_code == 302
    model = Model.objects.get(name="new-model")
    assert model.free and model.input_per_mtok is None
    [row] = model.price_history.all()  # the admin's save records it: free, no prices
    assert (row.free, row.input_per_mtok, row.source, row.changed_by) == (True, None, "admin", "root")
