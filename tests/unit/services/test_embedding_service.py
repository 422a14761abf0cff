"""The embeddings service against the fake upstream (services/conftest.py's gateway, plus
embedding models): vectors, the cache and single flight, failover and breakers, the mode
of a model (chat / embedding) on both routes, validation, the record, limits, and the YAML
`mode` of loadconfig."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from completions_app.services.budget_alerts import alerts_drain
from completions_app.services.catalog import catalog_get
from completions_app.services.completion import completion_create
from completions_app.services.config_load import ConfigError, config_load
from completions_app.services.db import db_run
from completions_app.services.embedding import MAX_INPUTS, embedding_create
from completions_app.services.limit_types import Limits, Owner
from completions_app.services.limits_local import LocalLimiter
from completions_app.services.types import EmbeddingInput
from providers_app.adapters.openai_embed import vector_floats
from providers_app.errors import InvalidRequest, ModelNotFound, PermissionDenied, RateLimitExceeded
from providers_app.models import Model, Provider
from tests.factories import model_create
from tests.fakes.behaviour import Behaviour
from tests.fakes.embedding import vector_for

pytestmark = pytest.mark.django_db(transaction=True)

TEXTS = ("the quick brown fox", "jumps", "over the lazy dog")  # 9 words: the fakes' usage
NOW = 1_794_999_990.0  # mid-minute: a test never straddles two rate windows


def _embedding_models() -> None:
    """emb-small (openai, $0.02/M in, falls back to emb-local), emb-local (ollama, $0.01/M),
    emb-claude (an embedding model on an anthropic provider), emb-to-chat (falls back to a chat model)."""
    oa, an, ol = (Provider.objects.get(name=n) for n in ("oa", "an", "ol"))
    local = model_create("emb-local", ol, upstream="nomic-embed-text", input_price="0.01", output_price="0")
    model_create(
        "emb-small", oa, upstream="text-embedding-3-small", input_price="0.02", output_price="5", fallbacks=(local,)
    )
    model_create("emb-claude", an, upstream="claude-embed", input_price="0.10", output_price="0")
    model_create(
        "emb-to-chat",
        oa,
        upstream="text-embedding-3-large",
        input_price="0.13",
        output_price="0",
        fallbacks=(Model.objects.get(name="gpt-mini"), Model.objects.get(name="emb-claude"), local),
    )
    Model.objects.filter(name__startswith="emb-").update(mode=Model.Mode.EMBEDDING)


@pytest.fixture
def egw(gw):
    _embedding_models()
    return gw


def _inp(model: str = "emb-small", inputs: tuple[str, ...] = TEXTS, **kw: object) -> EmbeddingInput:
    return EmbeddingInput(model=model, inputs=inputs, **kw)  # type: ignore[arg-type]


def _embed_requests(gw) -> list:
    return [r for r in gw.fake.requests if r.path in ("/v1/embeddings", "/api/embed")]


# --- answers, the record -------------------------------------------------------------------------
async def test_vectors_usage_cost_and_the_record(egw):
    result = await embedding_create(_inp(dimensions=4, user="end-user-1"), egw.ctx(interface="openai"))
    assert result.vectors == [vector_for(t, 4) for t in TEXTS]
    assert (result.model, result.served_model, result.provider, result.cached) == (
        "emb-small",
        "emb-small",
        "oa",
        False,
    )
    assert (result.usage.input_tokens, result.usage.output_tokens) == (9, 0)
    assert result.cost_usd == Decimal(9) * Decimal("0.02") / 1_000_000  # input only: the output price plays no part
    [sent] = _embed_requests(egw)
    assert sent.json == {"model": "text-embedding-3-small", "input": list(TEXTS), "user": "end-user-1", "dimensions": 4}
    [record] = await egw.records()
    assert (record.interface, record.model, record.served_model, record.provider) == (
        "openai",
        "emb-small",
        "emb-small",
        "oa",
    )
    assert (record.status, record.http_status, record.stream, record.cached) == ("ok", 200, False, False)
    assert (record.input_tokens, record.output_tokens, record.usage_estimated) == (9, 0, False)
    assert record.cost_usd == result.cost_usd
    assert record.input_price_per_mtok == Decimal("0.02")
    assert record.end_user == "end-user-1"
    assert [a["outcome"] for a in record.attempts] == ["ok"]


async def test_base64_through_ollama_is_encoded_for_the_client(egw):
    result = await embedding_create(_inp("emb-local", encoding_format="base64"), egw.ctx())
    assert [vector_floats(v) for v in result.vectors] == [vector_for(t) for t in TEXTS]  # type: ignore[arg-type]
    [sent] = _embed_requests(egw)
    assert (sent.path, sent.json) == ("/api/embed", {"model": "nomic-embed-text", "input": list(TEXTS)})
    assert result.cost_usd == Decimal(9) * Decimal("0.01") / 1_000_000


# --- cache and single flight -----------------------------------------------------------------------
def _hits() -> float:
    return REGISTRY.get_sample_value("ai_proxy_cache_hits_total", {"result": "hit"}) or 0.0


async def test_a_second_identical_call_is_a_hit_with_cost_0_and_the_original_usage(egw):
    hits = _hits()
    first = await embedding_create(_inp(), egw.ctx())
    second = await embedding_create(_inp(), egw.ctx())
    assert len(_embed_requests(egw)) == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.vectors == first.vectors
    assert second.cost_usd == 0 and second.usage == first.usage
    assert (second.served_model, second.provider) == ("emb-small", "oa")
    assert _hits() == hits + 1  # counted as completions' hits are
    miss, hit = await egw.records()
    assert (hit.status, hit.cached, hit.cost_usd, hit.cost_saved_usd) == ("cache_hit", True, 0, first.cost_usd)
    assert (hit.input_tokens, hit.output_tokens) == (0, 0)  # nothing was used upstream
    assert miss.cost_usd == first.cost_usd


async def test_the_key_covers_inputs_dimensions_encoding_and_the_client_can_opt_out(egw):
    await embedding_create(_inp(), egw.ctx())
    for changed in (
        _inp(inputs=TEXTS[:2]),
        _inp(dimensions=4),
        _inp(encoding_format="base64"),
        _inp(cache=False),
        _inp(cache=False),
    ):
        assert not (await embedding_create(changed, egw.ctx())).cached
    assert len(_embed_requests(egw)) == 6
    # "float" asked and nothing asked are the same answer.
    assert (await embedding_create(_inp(encoding_format="float"), egw.ctx())).cached


async def test_identical_calls_in_flight_reach_the_upstream_once(egw):
    egw.fake.script(Behaviour.ok(delay_s=0.2, path="/v1/embeddings"))
    results = await asyncio.gather(*(embedding_create(_inp(), egw.ctx()) for _ in range(3)))
    assert sorted(r.cached for r in results) == [False, True, True]
    assert len(_embed_requests(egw)) == 1
    assert all(r.vectors == results[0].vectors for r in results)


async def test_a_call_abandoned_after_the_upstream_answered_records_its_usage(egw):
    """The provider bills embeddings it sent: the client leaving once they have arrived (in the
    gateway's socket, not yet read) records their usage and cost, not 0."""
    egw.fake.script(Behaviour.ok(delay_s=0.2, path="/v1/embeddings"))
    task = asyncio.create_task(embedding_create(_inp(), egw.ctx()))
    for _ in range(500):
        if egw.fake.requests:
            break
        await asyncio.sleep(0.002)
    time.sleep(0.6)  # blocks the loop: the fake answers meanwhile, the gateway reads nothing yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [record] = await egw.records()
    assert (record.status, record.error_type, record.http_status) == ("error", "client_disconnected", 499)
    assert (record.provider, record.served_model, record.input_tokens, record.usage_estimated) == (
        "oa",
        "emb-small",
        9,
        False,
    )
    assert record.cost_usd == Decimal(9) * Decimal("0.02") / 1_000_000


# --- routing ---------------------------------------------------------------------------------------
async def test_a_500_fails_over_to_the_ollama_embedding_model(egw):
    egw.fake.script(Behaviour.error(500, path="/v1/embeddings"))
    result = await embedding_create(_inp(), egw.ctx())
    assert (result.served_model, result.provider) == ("emb-local", "ol")
    assert result.vectors == [vector_for(t) for t in TEXTS]
    assert [(a.model, a.outcome) for a in result.attempts] == [("emb-small", "upstream_error"), ("emb-local", "ok")]
    assert [r.path for r in _embed_requests(egw)] == ["/v1/embeddings", "/api/embed"]
    [record] = await egw.records()
    assert (record.served_model, record.provider, record.input_tokens) == ("emb-local", "ol", 9)
    assert record.cost_usd == Decimal(9) * Decimal("0.01") / 1_000_000  # the serving model's price
    assert record.input_price_per_mtok == Decimal("0.01")


async def test_fallbacks_that_cannot_embed_are_skipped_by_name(egw):
    egw.fake.script(Behaviour.error(503, path="/v1/embeddings"))
    result = await embedding_create(_inp("emb-to-chat"), egw.ctx())
    assert result.served_model == "emb-local"
    assert [(a.model, a.outcome) for a in result.attempts] == [
        ("emb-to-chat", "upstream_error"),
        ("gpt-mini", "unsupported:model"),  # a chat model
        ("emb-claude", "unsupported:model"),  # an anthropic provider: no embeddings API
        ("emb-local", "ok"),
    ]
    assert not [r for r in egw.fake.requests if r.path.startswith(("/v1/chat", "/v1/messages"))]


async def test_an_upstream_400_is_the_clients_and_is_not_failed_over(egw):
    from providers_app.errors import UpstreamBadRequest

    egw.fake.script(Behaviour.error(400, path="/v1/embeddings", message="This model's maximum context length is 8192"))
    with pytest.raises(UpstreamBadRequest):
        await embedding_create(_inp(), egw.ctx())
    assert len(_embed_requests(egw)) == 1
    [record] = await egw.records()
    assert (record.status, record.http_status) == ("error", 400)


# --- the mode of a model, on both routes ------------------------------------------------------------
async def test_an_embedding_model_on_an_anthropic_provider_is_a_400_without_an_upstream_call(egw):
    with pytest.raises(InvalidRequest) as info:
        await embedding_create(_inp("emb-claude"), egw.ctx())
    assert (info.value.http_status, info.value.field) == (400, "model")
    assert "no embeddings API" in str(info.value)
    assert egw.fake.requests == []
    [record] = await egw.records()
    assert (record.status, record.http_status, record.model, record.cost_usd) == ("error", 400, "emb-claude", 0)


async def test_a_chat_model_asked_for_embeddings_is_a_400_that_says_so(egw):
    with pytest.raises(InvalidRequest) as info:
        await embedding_create(_inp("gpt-mini"), egw.ctx())
    assert (info.value.http_status, info.value.field) == (400, "model")
    assert "is a chat model: use /v1/chat/completions" in str(info.value)
    assert egw.fake.requests == []


async def test_an_embedding_model_asked_for_a_chat_completion_is_a_400_that_says_so(egw):
    with pytest.raises(InvalidRequest) as info:
        await completion_create(egw.inp(model="emb-small"), egw.ctx())
    assert (info.value.http_status, info.value.field) == (400, "model")
    assert "'emb-small' is an embedding model: use /v1/embeddings" in str(info.value)
    assert egw.fake.requests == []
    [record] = await egw.records()
    assert (record.status, record.http_status, record.error_type) == ("error", 400, "invalid_request_error")


async def test_unknown_and_forbidden_models_as_for_completions(egw):
    with pytest.raises(ModelNotFound):
        await embedding_create(_inp("nope"), egw.ctx())
    egw.client = replace(egw.client, allowed_models=frozenset({"emb-local"}))
    with pytest.raises(PermissionDenied):
        await embedding_create(_inp("emb-small"), egw.ctx())
    assert (await embedding_create(_inp("emb-local"), egw.ctx())).provider == "ol"


# --- validation --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("inp", "field"),
    [
        (_inp(inputs=()), "input"),
        (_inp(inputs=("fine", "")), "input[1]"),
        (_inp(inputs=("x",) * (MAX_INPUTS + 1)), "input"),
        (_inp(dimensions=0), "dimensions"),
        (_inp(encoding_format="hex"), "encoding_format"),
    ],
    ids=["no-input", "an-empty-input", "too-many", "dimensions-0", "encoding"],
)
async def test_bad_input_is_a_400_naming_the_field(egw, inp, field):
    with pytest.raises(InvalidRequest) as info:
        await embedding_create(inp, egw.ctx())
    assert (info.value.http_status, info.value.field) == (400, field)
    assert egw.fake.requests == []
    [record] = await egw.records()
    assert (record.status, record.http_status) == ("error", 400)


async def test_the_most_inputs_are_accepted(egw):
    result = await embedding_create(_inp(inputs=tuple(f"text {i}" for i in range(MAX_INPUTS))), egw.ctx())
    assert len(result.vectors) == MAX_INPUTS and result.usage.input_tokens == 2 * MAX_INPUTS


# --- limits -------------------------------------------------------------------------------------------
async def test_limits_admit_an_estimate_settle_the_usage_and_count_hits_as_requests(egw, gw_state):
    limiter = gw_state.limiter = LocalLimiter(clock=lambda: NOW)
    owner = Owner(kind="key", id=egw.client.id, name=egw.client.name, limits=Limits(rpm=3, tpm=1000))
    egw.client = replace(egw.client, owners=(owner,))
    first = await embedding_create(_inp(), egw.ctx())
    hit = await embedding_create(_inp(), egw.ctx())
    assert hit.cached and hit.limit_headers["x-ratelimit-remaining-requests"] == "1"
    assert first.limit_headers["x-ratelimit-limit-requests"] == "3"
    other = await embedding_create(_inp(inputs=("something else",)), egw.ctx())
    with pytest.raises(RateLimitExceeded):
        await embedding_create(_inp(), egw.ctx())
    await alerts_drain()
    records = await egw.records()
    assert [r.status for r in records] == ["ok", "cache_hit", "ok", "error"]
    usage = await limiter.usage(owner)
    assert (usage.in_flight, usage.reserved_usd) == (0, 0)
    assert usage.requests_this_minute == 3
    # Settled to what was used (9 + 2 words), not the estimate: the limiter ends where the records do.
    assert usage.tokens_this_minute == sum(r.input_tokens + r.output_tokens for r in records) == 9 + 2
    assert usage.spent_today_usd == sum(r.cost_usd for r in records) == first.cost_usd + other.cost_usd
    assert records[-1].limit_hit == "key:svc-tester:rpm"


# --- the mode in the catalog and the YAML config ---------------------------------------------------------
async def test_the_catalog_carries_each_models_mode(egw):
    catalog = await catalog_get()
    assert catalog.models["emb-small"].mode == "embedding"
    assert catalog.models["gpt-mini"].mode == "chat"


def _config(**model: object) -> dict:
    return {
        "providers": [{"name": "ol2", "kind": "ollama", "base_url": "http://127.0.0.1:1"}],
        "models": [
            {
                "name": "chatty",
                "provider": "ol2",
                "upstream_model": "llama3",
                "input_per_mtok": 0,
                "output_per_mtok": 0,
            },
            {
                "name": "embedder",
                "provider": "ol2",
                "upstream_model": "nomic-embed-text",
                "input_per_mtok": "0.01",
                "output_per_mtok": 0,
                **model,
            },
        ],
    }


def test_yaml_mode_is_loaded_and_defaults_to_chat(transactional_db):
    config_load(data=_config(mode="embedding"))
    assert dict(Model.objects.values_list("name", "mode")) == {"chatty": "chat", "embedder": "embedding"}
    config_load(data=_config())  # no mode: chat
    assert Model.objects.get(name="embedder").mode == "chat"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"mode": "vision"}, "model 'embedder'.mode: must be one of chat, embedding"),
        ({"mode": "embedding", "fallbacks": ["chatty"]}, "'chatty' is not an embedding model"),
    ],
    ids=["unknown-mode", "fallback-of-another-mode"],
)
def test_yaml_mode_errors_name_the_model_and_field(transactional_db, model, message):
    with pytest.raises(ConfigError, match=message):
        config_load(data=_config(**model))
    assert not Model.objects.filter(name="embedder").exists()


async def test_records_of_embeddings_are_priced_exactly_whatever_the_count(egw):
    texts = tuple(" ".join(["w"] * n) for n in (1, 7, 30))
    result = await embedding_create(_inp(inputs=texts), egw.ctx())
    assert result.usage.input_tokens == 38
    [record] = await egw.records()
    assert record.cost_usd == Decimal("0.00000076")  # 38 × $0.02 / 1M, no rounding
    assert await db_run(lambda: Model.objects.get(name="emb-small").output_per_mtok) == Decimal(5)  # and not used


# --- the mode in the admin --------------------------------------------------------------------------------
@pytest.fixture
def admin_client_logged(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456789"))
    return client


def _model_form(model: Model, *fallbacks: Model, **changes: str) -> dict[str, str]:
    form = {
        "name": model.name,
        "provider": str(model.provider_id),
        "upstream_model": model.upstream_model,
        "input_per_mtok": str(model.input_per_mtok),
        "output_per_mtok": str(model.output_per_mtok),
        "enabled": "on",
        "fallback_links-TOTAL_FORMS": str(len(fallbacks)),
        "fallback_links-INITIAL_FORMS": "0",
        "fallback_links-MIN_NUM_FORMS": "0",
        "fallback_links-MAX_NUM_FORMS": "1000",
        **changes,
    }
    for i, fb in enumerate(fallbacks):
        form[f"fallback_links-{i}-position"] = str(i)
        form[f"fallback_links-{i}-fallback"] = str(fb.pk)
    return form


def test_the_admin_lists_filters_and_edits_the_mode(transactional_db, admin_client_logged):
    from django.urls import reverse

    ol = Provider.objects.create(name="ol3", kind="ollama", base_url="http://127.0.0.1:1")
    chat = model_create("chat-one", ol)
    emb = model_create("emb-one", ol)
    listing = admin_client_logged.get(reverse("admin:providers_app_model_changelist") + "?mode=embedding")
    assert listing.status_code == 200  # the filter exists (an unknown one redirects with ?e=1)
    url = reverse("admin:providers_app_model_change", args=[emb.pk])
    assert 'name="mode"' in admin_client_logged.get(url).content.decode()
    assert admin_client_logged.post(url, _model_form(emb, mode="embedding")).status_code == 302
    emb.refresh_from_db()
    assert emb.mode == "embedding"
    # A fallback of the other mode is refused, naming both.
    page = admin_client_logged.post(url, _model_form(emb, chat, mode="embedding"))
    assert (
        page.status_code == 200 and "chat-one is a chat model; this one is an embedding model." in page.content.decode()
    )
    assert not emb.fallback_links.exists()
