"""Embeddings through the adapters, down to HTTP against the fakes: OpenAI's POST /embeddings
and Ollama's POST /api/embed, float and base64, `dimensions`, one input and many, usage, errors
classified like every adapter call; Anthropic has no embeddings API (the default refusal)."""

from __future__ import annotations

import pytest

from providers_app.adapters.ollama_embed import embeddings_from as ollama_embeddings_from
from providers_app.adapters.openai_embed import embeddings_from, vector_base64, vector_floats
from providers_app.adapters.types import EmbeddingRequest
from providers_app.errors import (
    InvalidRequest,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamConnectionError,
    UpstreamMalformedResponse,
    UpstreamRateLimited,
    UpstreamServerError,
)
from tests.fakes.behaviour import Behaviour
from tests.fakes.embedding import vector_for

from .support import API_KEY, base_url_for, build_adapter

EMBEDDERS = ["openai", "ollama"]
PATHS = {"openai": "/v1/embeddings", "ollama": "/api/embed"}
TEXTS = ("the quick brown fox", "jumps", "over the lazy dog")


def _request(*inputs: str, **kw: object) -> EmbeddingRequest:
    return EmbeddingRequest(model="emb-small", inputs=inputs or TEXTS, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=EMBEDDERS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def embedder(kind, fake, adapters):
    adapter = build_adapter(kind, base_url_for(kind, fake), api_key=None if kind == "ollama" else API_KEY)
    adapters.append(adapter)
    return adapter


# --- answers ------------------------------------------------------------------------------------
async def test_many_inputs_get_their_vectors_in_order_as_floats(embedder, kind, fake):
    result = await embedder.embed(_request())
    assert result.vectors == [vector_for(t) for t in TEXTS]
    assert result.usage.input_tokens == 4 + 1 + 4  # the fakes count words
    assert result.usage.output_tokens == 0
    assert result.model == "emb-small"
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", PATHS[kind])
    assert sent.json == {"model": "emb-small", "input": list(TEXTS)}


async def test_one_input_is_sent_as_a_string(embedder, fake):
    result = await embedder.embed(_request("alone here"))
    assert result.vectors == [vector_for("alone here")]
    assert fake.requests[-1].json["input"] == "alone here"


async def test_dimensions_are_passed_and_shape_the_vectors(embedder, fake):
    result = await embedder.embed(_request("a b", "c", dimensions=5))
    assert [len(v) for v in result.vectors] == [5, 5]
    assert result.vectors == [vector_for("a b", 5), vector_for("c", 5)]
    assert fake.requests[-1].json["dimensions"] == 5


async def test_base64_is_what_the_client_gets_whichever_kind(embedder, kind, fake):
    result = await embedder.embed(_request(encoding_format="base64", dimensions=3))
    assert all(isinstance(v, str) for v in result.vectors)
    # Little-endian float32, as OpenAI encodes it; the fakes' components are exact in float32.
    assert [vector_floats(v) for v in result.vectors] == [vector_for(t, 3) for t in TEXTS]  # type: ignore[arg-type]
    sent = fake.requests[-1].json
    if kind == "openai":
        assert sent["encoding_format"] == "base64"  # asked of OpenAI, which encodes
    else:
        assert "encoding_format" not in sent  # Ollama has none: the adapter encodes


async def test_openai_float_asked_is_sent_so(fake, adapters):
    adapter = build_adapter("openai", fake.openai_base_url)
    adapters.append(adapter)
    await adapter.embed(_request("x", encoding_format="float", user="end-user-9"))
    assert fake.requests[-1].json == {
        "model": "emb-small",
        "input": "x",
        "encoding_format": "float",
        "user": "end-user-9",
    }
    assert fake.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"


async def test_ollama_has_no_place_for_user(fake, adapters):
    adapter = build_adapter("ollama", fake.ollama_base_url, api_key=None)
    adapters.append(adapter)
    await adapter.embed(_request("x", user="end-user-9"))
    assert fake.requests[-1].json == {"model": "emb-small", "input": "x"}


def test_base64_round_trip_is_little_endian_float32():
    assert vector_base64([1.0, -2.0]) == "AACAPwAAAMA="  # 0x3f800000, 0xc0000000, little-endian
    assert vector_floats("AACAPwAAAMA=") == [1.0, -2.0]


# --- answers of other shapes (OpenAI-compatible servers) ------------------------------------------
def test_data_is_placed_by_index_and_converted_to_the_encoding_asked():
    body = {
        "data": [{"index": 1, "embedding": vector_base64([0.5])}, {"index": 0, "embedding": [0.25]}],
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
        "model": "m",
    }
    floats = embeddings_from(body, _request("a", "b"))
    assert floats.vectors == [[0.25], [0.5]]
    encoded = embeddings_from(body, _request("a", "b", encoding_format="base64"))
    assert encoded.vectors == [vector_base64([0.25]), vector_base64([0.5])]
    assert encoded.usage.input_tokens == 3


@pytest.mark.parametrize(
    "data",
    [
        [{"index": 0, "embedding": [0.1]}],  # one vector for two inputs
        [{"index": 0, "embedding": [0.1]}, {"index": 0, "embedding": [0.2]}],  # an index twice
        [{"index": 0, "embedding": [0.1]}, {"index": 2, "embedding": [0.2]}],  # out of range
    ],
)
def test_a_vector_missing_repeated_or_misplaced_is_malformed(data):
    with pytest.raises(UpstreamMalformedResponse):
        embeddings_from({"data": data, "usage": {"prompt_tokens": 1}}, _request("a", "b"))


def test_ollama_vectors_must_match_the_inputs():
    with pytest.raises(UpstreamMalformedResponse):
        ollama_embeddings_from({"embeddings": [[0.1]], "prompt_eval_count": 1}, _request("a", "b"))


# --- errors: classified like every adapter call -------------------------------------------------
@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (Behaviour.error(500), UpstreamServerError),
        (Behaviour.error(401), UpstreamAuthError),
        (Behaviour.rate_limited("7"), UpstreamRateLimited),
        (Behaviour.malformed(), UpstreamMalformedResponse),
        (Behaviour(kind="wrong_shape"), UpstreamMalformedResponse),
        (Behaviour.close(), UpstreamConnectionError),
    ],
    ids=["500", "401", "429", "malformed", "wrong_shape", "close"],
)
async def test_upstream_faults_are_classified(embedder, fake, behaviour, error):
    fake.script(behaviour)
    with pytest.raises(error) as info:
        await embedder.embed(_request())
    assert API_KEY not in str(info.value)
    if isinstance(info.value, UpstreamRateLimited):
        assert info.value.retry_after == 7


async def test_the_providers_own_400_is_relayed_not_retried(embedder):
    with pytest.raises(UpstreamBadRequest) as info:
        await embedder.embed(_request("fine", ""))  # the service refuses this first; a provider does too
    assert info.value.http_status == 400 and not info.value.retryable
    assert "empty" in str(info.value)


async def test_anthropic_has_no_embeddings_api(fake, adapters):
    adapter = build_adapter("anthropic", fake.anthropic_base_url)
    adapters.append(adapter)
    with pytest.raises(InvalidRequest) as info:
        await adapter.embed(_request())
    assert (info.value.field, info.value.http_status) == ("model", 400)
    assert fake.requests == []
