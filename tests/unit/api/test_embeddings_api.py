"""POST /v1/embeddings' interface: the body checked against its declaration and made the
service's input, the result rendered in OpenAI's shape (the openai SDK parses it), the
gRPC Embed's input and answer, and /v1/models' `mode`."""

from __future__ import annotations

import base64
import json
import struct
from decimal import Decimal

import openai.types
import pytest

from aiproxy.v1 import proxy_pb2 as pb
from completions_app.api import declarations as v1
from completions_app.api.common import result_headers
from completions_app.api.embedding_shapes import EMBEDDING_REQUEST, EMBEDDING_RESPONSE, MAX_INPUTS
from completions_app.api.embeddings import embedding_body, embedding_input, embedding_json
from completions_app.api.fast_routes import ROUTES, embeddings_create
from completions_app.api.shapes import ShapeError, UnknownFields
from completions_app.grpc.grpc_embed import embed_field_named, embed_response, embedding_input_from
from completions_app.services.types import EmbeddingInput, EmbeddingResult
from providers_app.adapters.types import Usage
from providers_app.errors import InvalidRequest


def parsed(body: dict) -> EmbeddingInput:
    return embedding_input(EMBEDDING_REQUEST.check(body), cache_allowed=True)


def refusal(body: dict) -> ShapeError:
    with pytest.raises(ShapeError) as info:
        EMBEDDING_REQUEST.check(body)
    return info.value


def b64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def result(vectors: list, *, cached: bool = False, limit_headers: dict | None = None) -> EmbeddingResult:
    return EmbeddingResult(
        request_id="rid-1",
        model="emb-small",
        served_model="emb-small",
        provider="oa",
        vectors=vectors,
        usage=Usage(input_tokens=7, output_tokens=0),
        cost_usd=Decimal("0.00000014") if not cached else Decimal(0),
        cached=cached,
        latency_ms=1.5,
        limit_headers=limit_headers,
    )


# --- the request ----------------------------------------------------------------------------------
def test_a_string_is_one_input_and_a_list_keeps_its_order():
    assert parsed({"model": "m", "input": "one text"}) == EmbeddingInput(model="m", inputs=("one text",))
    inp = parsed(
        {"model": "m", "input": ["b", "a", "b"], "dimensions": 256, "encoding_format": "base64", "user": "u-9"}
    )
    assert inp == EmbeddingInput(
        model="m", inputs=("b", "a", "b"), dimensions=256, encoding_format="base64", user="u-9", cache=True
    )


def test_cache_off_by_body_or_by_header():
    assert parsed({"model": "m", "input": "x", "cache": False}).cache is False
    body = EMBEDDING_REQUEST.check({"model": "m", "input": "x"})
    assert embedding_input(body, cache_allowed=False).cache is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "m", "input": ""}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": ["ok", ""]}, "input[1]"),
        ({"model": "m", "input": ["ok", 3]}, "input[1]"),
        ({"model": "m", "input": {"text": "x"}}, "input"),
        ({"model": "m"}, "input"),
        ({"input": "x"}, "model"),
        ({"model": "", "input": "x"}, "model"),
        ({"model": "m", "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": "m", "input": "x", "dimensions": 1.5}, "dimensions"),
        ({"model": "m", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "m", "input": "x", "user": "u" * 257}, "user"),
    ],
)
def test_bad_fields_are_refused_by_name(body, field):
    assert refusal(body).where() == field


def test_too_many_inputs_is_refused_naming_input():
    EMBEDDING_REQUEST.check({"model": "m", "input": ["x"] * MAX_INPUTS})
    error = refusal({"model": "m", "input": ["x"] * (MAX_INPUTS + 1)})
    assert error.where() == "input" and str(MAX_INPUTS) in error.message()


@pytest.mark.parametrize("tokens", [[1, 2, 3], [[1, 2], [3]]])
def test_token_arrays_are_refused_by_name(tokens):
    error = refusal({"model": "m", "input": tokens})
    assert error.where() == "input"
    assert error.message().startswith("input: token arrays are not supported")


def test_unknown_fields_are_refused_by_name():
    with pytest.raises(UnknownFields) as info:
        EMBEDDING_REQUEST.check({"model": "m", "input": "x", "truncate": True})
    assert info.value.field() == "truncate"


# --- the answer -----------------------------------------------------------------------------------
def test_the_answer_is_openais_and_the_sdk_parses_it():
    floats = [[0.5, -0.25], [1.0, 0.125]]
    body = embedding_json(result(floats))
    assert EMBEDDING_RESPONSE.check(body)  # the declared (documented) shape
    assert body == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
            {"object": "embedding", "index": 1, "embedding": [1.0, 0.125]},
        ],
        "model": "emb-small",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }
    sdk = openai.types.CreateEmbeddingResponse.model_validate(body)
    assert [e.embedding for e in sdk.data] == floats and sdk.usage.prompt_tokens == 7


def test_base64_vectors_are_passed_on_as_given():
    text = b64([0.5, -0.25])
    body = embedding_json(result([text]))
    assert EMBEDDING_RESPONSE.check(body)
    assert body["data"][0]["embedding"] == text


@pytest.mark.parametrize(
    "vectors",
    [
        [[0.5, -0.25], [1e-7, 3.0]],
        [b64([0.5, -0.25]), b64([1.0])],
        ['not "base64" \\ at all\n', "ünïcode", "\ud800"],  # what a provider should never send: still valid JSON
    ],
)
def test_the_rendered_body_is_the_answer(vectors):
    r = result(vectors)
    r.model = 'a "quoted" model'
    assert json.loads(embedding_body(r)) == embedding_json(r)


def test_headers_as_a_completion_and_a_limited_keys_ratelimit():
    assert result_headers(result([[0.0]])) == {
        "x-request-id": "rid-1",
        "x-aiproxy-provider": "oa",
        "x-aiproxy-cache": "MISS",
        "x-aiproxy-cost-usd": "0.00000014",
    }
    hit = result_headers(result([[0.0]], cached=True, limit_headers={"x-ratelimit-remaining-requests": "4"}))
    assert hit["x-aiproxy-cache"] == "HIT" and hit["x-aiproxy-cost-usd"] == "0"
    assert hit["x-ratelimit-remaining-requests"] == "4"


def test_served_and_declared():
    assert ROUTES["/v1/embeddings"]["POST"] is embeddings_create
    assert v1.EMBEDDINGS.request is EMBEDDING_REQUEST and v1.EMBEDDINGS.answer is EMBEDDING_RESPONSE
    assert "mode" in v1.MODEL_ENTRY.required


# --- gRPC Embed -----------------------------------------------------------------------------------
def test_grpc_input_with_unset_and_set_fields():
    assert embedding_input_from(pb.EmbedRequest(model="m", inputs=["a", "b"])) == EmbeddingInput(
        model="m", inputs=("a", "b")
    )
    full = pb.EmbedRequest(model="m", inputs=["a"], dimensions=64, encoding="base64", user="u", cache=False)
    assert embedding_input_from(full) == EmbeddingInput(
        model="m", inputs=("a",), dimensions=64, encoding_format="base64", user="u", cache=False
    )


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.EmbedRequest(inputs=["a"]), "model"),
        (pb.EmbedRequest(model="m"), "inputs"),
        (pb.EmbedRequest(model="m", inputs=["a"] * (MAX_INPUTS + 1)), "inputs"),
        (pb.EmbedRequest(model="m", inputs=["a", ""]), "inputs[1]"),
        (pb.EmbedRequest(model="m", inputs=["a"], dimensions=0), "dimensions"),
        (pb.EmbedRequest(model="m", inputs=["a"], encoding="int8"), "encoding"),
        (pb.EmbedRequest(model="m", inputs=["a"], user="u" * 257), "user"),
    ],
)
def test_grpc_bad_fields_are_refused_by_name(request_, field):
    with pytest.raises(InvalidRequest) as info:
        embedding_input_from(request_)
    assert info.value.field == field and f"`{field}`" in info.value.message


def test_grpc_names_the_fields_the_service_names_in_rest_words():
    exc = embed_field_named(InvalidRequest("`input[2]` is too long for the model.", field="input[2]"))
    assert (exc.field, exc.message) == ("inputs[2]", "`inputs[2]` is too long for the model.")
    exc = embed_field_named(InvalidRequest("`encoding_format` is not supported.", field="encoding_format"))
    assert exc.field == "encoding"
    assert embed_field_named(InvalidRequest("x", field="model")).field == "model"


def test_grpc_answer_floats_and_base64():
    floats = embed_response(result([[0.5, -0.25], [1.0, 0.125]]))
    assert [(e.index, list(e.values), e.base64) for e in floats.embeddings] == [
        (0, [0.5, -0.25], ""),
        (1, [1.0, 0.125], ""),
    ]
    assert (floats.usage.input_tokens, floats.usage.output_tokens) == (7, 0)
    assert (floats.cost_usd, floats.cached, floats.provider, floats.model) == ("0.00000014", False, "oa", "emb-small")
    assert (floats.served_model, floats.request_id, floats.latency_ms) == ("emb-small", "rid-1", 1.5)
    text = b64([0.5])
    packed = embed_response(result([text], cached=True))
    assert packed.embeddings[0].base64 == text and not packed.embeddings[0].values
    assert packed.cached and packed.cost_usd == "0"
