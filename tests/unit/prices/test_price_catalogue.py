"""syncprices' comparison on a fixture catalogue (the package's own data classes, installed as the
snapshot with the package's set_custom_snapshot) and on the pinned package's bundled data."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import data_snapshot

from providers_app.models import Model
from providers_app.price_catalogue import Status, price_text, prices_compare
from tests.factories import model_create, provider_create

from .catalogue_fixture import fixture_snapshot

D = Decimal
WHEN = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def providers(db):
    return {
        "an": provider_create("an", "anthropic", ""),
        "oa": provider_create("oa", "openai", ""),
        "ol": provider_create("ol", "ollama", "http://127.0.0.1:11434", keys=()),
    }


def _check(model: Model, snapshot: data_snapshot.DataSnapshot):
    [check] = prices_compare([model], snapshot=snapshot, when=WHEN)
    return check


def test_a_model_matching_the_catalogue_is_same(providers):
    m = model_create("c", providers["an"], upstream="claude-flat-20250101", input_price="3", output_price="15")
    Model.objects.filter(pk=m.pk).update(
        cache_read_per_mtok=D("0.3"), cache_write_per_mtok=D("3.75"), cache_write_1h_per_mtok=D("6")
    )
    check = _check(Model.objects.get(pk=m.pk), fixture_snapshot())
    # Matched by the package's own clause (starts with), and web searches are not our concern.
    assert (check.status, check.catalogue_provider, check.catalogue_model) == (Status.SAME, "anthropic", "claude-flat")
    assert check.diffs == ()


def test_differences_are_listed_field_by_field(providers):
    m = model_create("c", providers["an"], upstream="claude-flat", input_price="2.5", output_price="15")
    check = _check(m, fixture_snapshot())
    assert check.status == Status.DIFFERS
    rows = {(d.field, d.ours_text, d.catalogue_text) for d in check.diffs}
    assert rows == {
        ("input_per_mtok", "2.5", "3"),
        ("cache_read_per_mtok", "(= input)", "0.3"),
        ("cache_write_per_mtok", "(= input)", "3.75"),
        ("cache_write_1h_per_mtok", "(= 5-minute)", "6"),
    }
    assert check.prices == {
        "input_per_mtok": D("3"),
        "output_per_mtok": D("15"),
        "cache_read_per_mtok": D("0.3"),
        "cache_write_per_mtok": D("3.75"),
        "cache_write_1h_per_mtok": D("6"),
    }


def test_an_empty_cache_price_equal_to_the_input_price_is_no_difference(providers):
    # gpt-embed has no cache prices; ours says the input price explicitly: the same charge.
    m = model_create("e", providers["oa"], upstream="gpt-embed", input_price="0.02", output_price="0")
    Model.objects.filter(pk=m.pk).update(cache_read_per_mtok=D("0.02"))
    check = _check(Model.objects.get(pk=m.pk), fixture_snapshot())
    assert check.status == Status.SAME
    # A missing output price is the catalogue charging nothing for output: 0, never empty.
    assert check.prices["output_per_mtok"] == D(0)


def test_tiered_prices_use_the_base_tier_and_say_so(providers):
    m = model_create("t", providers["an"], upstream="claude-tiered", input_price="1", output_price="1")
    check = _check(m, fixture_snapshot())
    assert (check.prices["input_per_mtok"], check.prices["output_per_mtok"]) == (D("3"), D("15"))
    [note] = check.notes
    assert "base tier is used (prompts up to 200,000 input tokens)" in note
    assert "not applied (above 200,000: input_per_mtok 6, output_per_mtok 22.5)" in note


def test_the_price_in_force_is_compared_and_a_future_one_is_noted(providers):
    m = model_create("d", providers["an"], upstream="claude-dated", input_price="4", output_price="20")
    check = _check(m, fixture_snapshot())
    assert check.status == Status.SAME
    assert check.notes == ("the catalogue has other prices from 2027-01-01 (not yet in force)",)


def test_more_than_six_decimal_places_are_rounded_and_said(providers):
    m = model_create("o", providers["oa"], upstream="gpt-odd", input_price="0.14", output_price="1")
    check = _check(m, fixture_snapshot())
    assert check.status == Status.SAME
    assert check.notes == ("input_per_mtok 0.1400000001 rounded to 0.140000 (6 decimal places)",)


def test_unknown_ids_are_listed_not_guessed(providers):
    snapshot = fixture_snapshot()
    near = model_create("near", providers["an"], upstream="claude-fla")  # a prefix of a known id is not that model
    unknown = model_create("u", providers["oa"], upstream="gpt-unknown")
    local = model_create("l", providers["ol"], upstream="llama3.1:8b")
    compat = provider_create("compat", "openai", "http://10.0.0.5:8000/v1")
    elsewhere = model_create("x", compat, upstream="gpt-embed")  # an OpenAI-compatible server: not OpenAI's prices
    audio = model_create("w", providers["oa"], upstream="whisper-x")
    free = model_create("f", providers["an"], upstream="claude-flat", free=True)
    checks = {
        c.model.name: c for c in prices_compare([near, unknown, local, elsewhere, audio, free], snapshot=snapshot)
    }
    assert {n: c.status for n, c in checks.items()} == {
        "near": Status.NOT_IN_CATALOGUE,
        "u": Status.NOT_IN_CATALOGUE,
        "l": Status.NOT_IN_CATALOGUE,
        "x": Status.NOT_IN_CATALOGUE,
        "w": Status.SKIPPED,
        "f": Status.SKIPPED,
    }
    assert checks["u"].reason == "the catalogue's openai has no model 'gpt-unknown'"
    assert checks["l"].reason == "the catalogue has no provider for base URL http://127.0.0.1:11434"
    assert checks["x"].reason == "the catalogue has no provider for base URL http://10.0.0.5:8000/v1"
    assert "not priced per token" in checks["w"].reason
    assert checks["f"].reason == "marked free: it needs no price"
    assert all(c.prices == {} and c.diffs == () for c in checks.values())


# --- the pinned package's bundled data -----------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "upstream"),
    [("anthropic", "claude-3-5-haiku-20241022"), ("openai", "gpt-4o"), ("openai", "text-embedding-3-small")],
)
def test_well_known_ids_get_the_pinned_packages_prices(db, kind, upstream):
    p = provider_create("p", kind, "")
    m = model_create("m", p, upstream=upstream, input_price="1234", output_price="1234")
    check = prices_compare([m])[0]  # the bundled snapshot, now
    # What the package itself says, read through its public lookup, not copied here.
    snapshot = data_snapshot.get_snapshot()
    provider, info = snapshot.find_provider_model(upstream, None, kind, None)
    price = info.get_prices(datetime.now(tz=UTC))
    assert (check.catalogue_provider, check.catalogue_model) == (provider.id, info.id)
    assert check.status == Status.DIFFERS
    assert check.prices["input_per_mtok"] == price.input_mtok
    assert check.prices["output_per_mtok"] == (price.output_mtok or D(0))
    assert check.prices["cache_read_per_mtok"] == price.cache_read_mtok
    assert check.prices["cache_write_per_mtok"] == price.cache_write_mtok
    assert check.prices["cache_write_1h_per_mtok"] == price.cache_write_1h_mtok
    if kind == "anthropic":  # Anthropic's 5-minute and 1-hour writes are both there, and differ
        assert None not in check.prices.values()
        assert check.prices["cache_write_1h_per_mtok"] != check.prices["cache_write_per_mtok"]


def test_an_unknown_id_on_the_pinned_package_is_not_in_catalogue(db):
    p = provider_create("p", "openai", "https://api.openai.com/v1")
    m = model_create("m", p, upstream="my-fine-tune-that-nobody-prices")
    [check] = prices_compare([m])
    assert check.status == Status.NOT_IN_CATALOGUE
    assert check.reason == "the catalogue's openai has no model 'my-fine-tune-that-nobody-prices'"


def test_price_text():
    assert price_text("input_per_mtok", D("3.000000")) == "3"
    assert price_text("cache_read_per_mtok", D("0.075000")) == "0.075"
    assert price_text("input_per_mtok", None) == "(none)"
