"""POST /v1/embeddings end to end: the gateway subprocess (`serve`), real sockets, the official
openai SDK's `embeddings.create`, routed to an openai-kind and an ollama-kind embedding model
on the wire-level fakes; the answer, its cost, the cache and the record of each request."""

from __future__ import annotations

import os
import time
from decimal import Decimal

import httpx
import openai
import pytest

from tests.fakes.embedding import vector_for

from .gateway_process import CLIENT_KEY, GatewayProcess, fake_config

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}
PRICE = {"emb-oa": Decimal("0.02"), "emb-ol": Decimal("0.05")}  # per million input tokens
EMBEDDING_MODELS = [
    {"name": "emb-oa", "provider": "oa", "upstream_model": "text-embedding-3-small", "mode": "embedding",
     "input_per_mtok": "0.02", "output_per_mtok": "0"},
    {"name": "emb-ol", "provider": "ol", "upstream_model": "nomic-embed-text", "mode": "embedding",
     "input_per_mtok": "0.05", "output_per_mtok": "0"},
    {"name": "emb-an", "provider": "an", "upstream_model": "claude-embed", "mode": "embedding",
     "input_per_mtok": "0.05", "output_per_mtok": "0"},
]  # fmt: skip
TEXTS = ["the quick brown fox", "jumps over", "the lazy dog again today"]
WORDS = 4 + 2 + 5  # the fakes count words as tokens


LIMITED_KEY = "aip_e2e_limited_key_0123456789abcdef"


@pytest.fixture(scope="module")
def gateway(fake_upstream, tmp_path_factory):
    """This module's own gateway: fake_config() plus the embedding models and a limited key."""
    config = fake_config(fake_upstream.url, extra_models=EMBEDDING_MODELS)
    config["clients"].append({"name": "e2e-limited", "key": LIMITED_KEY, "limits": {"rpm": 1}})
    gw = GatewayProcess(tmp_path_factory.mktemp("gw"), config).prepare().start()
    yield gw
    gw.stop()
    gw.drop_database(os.environ.get("DATABASE_URL", ""))


def _sdk(gateway, cls=openai.OpenAI):
    return cls(base_url=f"{gateway.url}/v1", api_key=CLIENT_KEY, max_retries=0)


def _records_for(gateway: GatewayProcess, request_id: str, tries: int = 50) -> list[dict]:
    for _ in range(tries):  # records are written in batches off the request path
        rows = [r for r in gateway.records() if r["request_id"] == request_id]
        if rows:
            return rows
        time.sleep(0.1)
    return []


def _cost(model: str, tokens: int) -> Decimal:
    return PRICE[model] * tokens / Decimal(1_000_000)


@pytest.mark.parametrize("model", ["emb-oa", "emb-ol"])
def test_the_sdk_gets_one_vector_per_input_in_order_priced_and_recorded(gateway, fake, model):
    # No encoding_format: the SDK asks for base64 and decodes it itself.
    raw = _sdk(gateway).embeddings.with_raw_response.create(
        model=model, input=TEXTS, extra_headers={"x-request-id": f"emb-{model}"}
    )
    answer = raw.parse()
    assert [e.index for e in answer.data] == [0, 1, 2]
    assert [e.embedding for e in answer.data] == [vector_for(t) for t in TEXTS]  # the fake's, in input order
    assert answer.model == model and answer.object == "list"
    assert (answer.usage.prompt_tokens, answer.usage.total_tokens) == (WORDS, WORDS)
    assert raw.headers["x-request-id"] == f"emb-{model}"
    assert raw.headers["x-aiproxy-provider"] == model[-2:]
    assert raw.headers["x-aiproxy-cache"] == "MISS"
    assert Decimal(raw.headers["x-aiproxy-cost-usd"]) == _cost(model, WORDS)
    [sent] = fake.requests()
    assert sent["path"] == ("/v1/embeddings" if model == "emb-oa" else "/api/embed")

    [record] = _records_for(gateway, f"emb-{model}")
    assert (record["status"], record["model"], record["served_model"]) == ("ok", model, model)
    assert (record["input_tokens"], record["output_tokens"]) == (str(WORDS), "0")
    assert Decimal(record["cost_usd"]) == _cost(model, WORDS)
    assert record["cached"].lower() in ("false", "0")


@pytest.mark.parametrize("model", ["emb-oa", "emb-ol"])
def test_float_and_base64_are_the_same_vectors(gateway, fake, model):
    client = _sdk(gateway)
    texts = ["float or base64", "the same vectors"]  # not another test's: the gateway's cache keeps those
    decoded = client.embeddings.create(model=model, input=texts)  # base64 on the wire
    floats = client.embeddings.create(model=model, input=texts, encoding_format="float")
    assert [e.embedding for e in floats.data] == [e.embedding for e in decoded.data] == [vector_for(t) for t in texts]
    assert len(fake.requests()) == 2  # the encoding is part of the cache key: both reached the upstream
    as_sent = client.embeddings.create(model=model, input="one text", encoding_format="base64")
    assert isinstance(as_sent.data[0].embedding, str)  # asked for explicitly: the SDK leaves it as text


def test_dimensions_reach_an_openai_model(gateway, fake):
    answer = _sdk(gateway).embeddings.create(model="emb-oa", input=TEXTS[:2], dimensions=32)
    assert [e.embedding for e in answer.data] == [vector_for(t, 32) for t in TEXTS[:2]]  # the dimensions: a miss
    assert fake.requests()[0]["json"]["dimensions"] == 32


@pytest.mark.parametrize("model", ["emb-oa", "emb-ol"])
def test_a_repeated_request_is_a_cache_hit_with_the_original_usage_and_cost_0(gateway, fake, model):
    client = _sdk(gateway)
    texts = [f"cache me {model}", "and me"]
    first = client.embeddings.with_raw_response.create(model=model, input=texts)
    second = client.embeddings.with_raw_response.create(model=model, input=texts)
    assert (first.headers["x-aiproxy-cache"], second.headers["x-aiproxy-cache"]) == ("MISS", "HIT")
    assert second.headers["x-aiproxy-cost-usd"] == "0"
    assert Decimal(first.headers["x-aiproxy-cost-usd"]) == _cost(model, 5)
    assert second.parse().usage == first.parse().usage
    assert [e.embedding for e in second.parse().data] == [e.embedding for e in first.parse().data]
    assert len(fake.requests()) == 1
    [hit] = _records_for(gateway, second.headers["x-request-id"])
    # Recorded as a chat completion's hit is: nothing used upstream, nothing billed.
    assert (hit["status"], hit["cost_usd"], hit["input_tokens"], hit["model"]) == ("cache_hit", "0", "0", model)
    assert hit["cached"].lower() in ("true", "1")
    # Asked not to: the cache is neither read nor written.
    third = client.embeddings.with_raw_response.create(
        model=model, input=texts, extra_headers={"cache-control": "no-cache"}
    )
    assert third.headers["x-aiproxy-cache"] == "MISS" and len(fake.requests()) == 2


async def test_the_async_sdk(gateway, fake):
    client = _sdk(gateway, openai.AsyncOpenAI)
    answer = await client.embeddings.create(model="emb-ol", input="async text")
    assert answer.data[0].embedding == vector_for("async text")
    await client.close()


def test_an_anthropic_embedding_model_is_a_400_that_reaches_no_provider(gateway, fake):
    with pytest.raises(openai.BadRequestError) as info:
        _sdk(gateway).embeddings.create(model="emb-an", input=TEXTS, extra_headers={"x-request-id": "emb-an-1"})
    assert "anthropic" in str(info.value.message).lower()
    assert fake.requests() == []
    [record] = _records_for(gateway, "emb-an-1")
    assert record["status"] != "ok" and record["cost_usd"] == "0"


def test_the_wrong_mode_is_a_400_that_says_so(gateway, fake):
    with pytest.raises(openai.BadRequestError) as info:
        _sdk(gateway).embeddings.create(model="gpt-4o-mini", input="x", extra_headers={"x-request-id": "emb-chat"})
    assert "is a chat model" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        _sdk(gateway).chat.completions.create(model="emb-oa", messages=[{"role": "user", "content": "hi"}])
    assert "embedding" in info.value.message.lower()
    assert fake.requests() == []
    [record] = _records_for(gateway, "emb-chat")
    assert record["status"] != "ok"


def test_models_show_their_mode(gateway, fake):
    client = _sdk(gateway)
    modes = {m.id: m.mode for m in client.models.list().data}  # an extra field: the SDK keeps it
    assert modes == {
        "gpt-4o-mini": "chat",
        "claude-3-5-haiku": "chat",
        "llama3": "chat",
        "emb-oa": "embedding",
        "emb-ol": "embedding",
        "emb-an": "embedding",
    }
    assert client.models.retrieve("emb-ol").mode == "embedding"


def test_token_arrays_and_unknown_fields_are_refused_by_name(gateway, fake):
    def post(body: dict) -> dict:
        r = httpx.post(f"{gateway.url}/v1/embeddings", json=body, headers=AUTH, timeout=10)
        assert r.status_code == 400, r.text
        return r.json()["error"]

    error = post({"model": "emb-oa", "input": [[1, 2, 3]]})
    assert error["param"] == "input" and error["message"].startswith("input: token arrays are not supported")
    assert post({"model": "emb-oa", "input": "x", "truncate": "END"})["param"] == "truncate"
    assert fake.requests() == []


def test_a_limited_key_gets_its_ratelimit_headers_and_a_429(gateway, fake):
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=LIMITED_KEY, max_retries=0)
    ok = client.embeddings.with_raw_response.create(model="emb-oa", input="limited text")
    assert (ok.headers["x-ratelimit-limit-requests"], ok.headers["x-ratelimit-remaining-requests"]) == ("1", "0")
    with pytest.raises(openai.RateLimitError) as info:
        client.embeddings.create(model="emb-oa", input="limited again")
    assert info.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(fake.requests()) == 1
