"""`manage.py syncprices [--apply]` on the fixture catalogue: the table, the models it cannot
compare, and --apply writing effective-dated prices (source syncprices) once."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from providers_app.models import Model, ModelPrice
from providers_app.prices import price_history_record
from tests.factories import model_create, provider_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def models(catalogue):
    an = provider_create("an", "anthropic", "")
    ol = provider_create("ol", "ollama", "http://127.0.0.1:11434", keys=())
    for m in (
        model_create("claude", an, upstream="claude-flat-20250101", input_price="2.5", output_price="15"),
        model_create("tiered", an, upstream="claude-tiered", input_price="3", output_price="15"),
        model_create("mystery", an, upstream="claude-mystery"),
        model_create("llama", ol, upstream="llama3.1:8b", input_price=None, output_price=None, free=True),
        model_create("unpriced-llama", ol, upstream="llama3.2", input_price=None, output_price=None),
    ):
        price_history_record(m, source=ModelPrice.Source.INITIAL)


def _run(*args: str) -> str:
    out = StringIO()
    call_command("syncprices", *args, stdout=out)
    return out.getvalue()


def test_prints_the_differences_and_changes_nothing(models):
    before = list(ModelPrice.objects.values_list("id", flat=True))
    text = _run()
    assert "catalogue: genai-prices " in text
    assert "claude (an / claude-flat-20250101 = catalogue anthropic / claude-flat): differs" in text
    assert "  input_per_mtok                        2.5              3" in text
    assert "  cache_write_1h_per_mtok      (= 5-minute)              6" in text
    assert "same as the catalogue: tiered" in text
    assert "tiered: note: tiered by prompt size: the base tier is used" in text
    assert (
        "mystery (an / claude-mystery): not in catalogue: the catalogue's anthropic has no model 'claude-mystery'"
        in text
    )
    assert "llama (ol / llama3.1:8b): skipped: marked free: it needs no price" in text
    assert "unpriced-llama (ol / llama3.2): not in catalogue: the catalogue has no provider for base URL" in text
    assert "1 differ, 1 same, 2 not in catalogue, 1 skipped. Run with --apply" in text
    assert list(ModelPrice.objects.values_list("id", flat=True)) == before
    assert Model.objects.get(name="claude").input_per_mtok == Decimal("2.5")


def test_apply_writes_effective_dated_prices_once(models):
    text = _run("--apply")
    assert "Applied the catalogue's prices to 1 model(s)." in text
    claude = Model.objects.get(name="claude")
    assert (claude.input_per_mtok, claude.cache_write_per_mtok, claude.cache_write_1h_per_mtok) == (
        Decimal("3"),
        Decimal("3.75"),
        Decimal("6"),
    )
    new = ModelPrice.objects.get(model=claude, source=ModelPrice.Source.SYNCPRICES)
    assert (new.changed_by, new.input_per_mtok, new.output_per_mtok) == ("syncprices", Decimal("3"), Decimal("15"))
    # The old price stays, as the one in force before.
    old = ModelPrice.objects.get(model=claude, source=ModelPrice.Source.INITIAL)
    assert old.input_per_mtok == Decimal("2.5") and old.valid_from <= new.valid_from
    rows = ModelPrice.objects.count()

    again = _run("--apply")  # idempotent: nothing differs, nothing written
    assert "0 differ, 2 same" in again and "Applied the catalogue's prices to 0 model(s)." in again
    assert ModelPrice.objects.count() == rows
    # Models not in the catalogue were not touched.
    assert Model.objects.get(name="mystery").input_per_mtok == Decimal("1.00")
    assert not ModelPrice.objects.filter(model__name__in=["mystery", "llama"], source="syncprices").exists()
