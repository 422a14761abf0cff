"""What is served is what is documented: the /v1 paths of the document at /api/schema/
against fast_routes.ROUTES, the request schemas against the declarations, the declarations
against what the route's parser enforces (in-process, through the ASGI application), and the
answers the calls render against the declared answer shapes."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest
from django.test import Client

from aiproxy.asgi import application
from completions_app.api import declarations as v1
from completions_app.api.chat_render import ChunkRenderer, openai_json
from completions_app.api.common import result_headers
from completions_app.api.errors import error_reply
from completions_app.api.fast_routes import ROUTES, SERVED
from completions_app.api.native import native_json
from completions_app.services.db import db_run
from completions_app.services.types import CompletionResult, StreamDelta, StreamEnd
from providers_app.adapters.types import Choice, Usage
from providers_app.errors import UpstreamTimeout
from tests.factories import client_create

BODIES = [op for op, _call in SERVED if op.request is not None]


@pytest.fixture(scope="module")
def document(django_db_blocker):
    with django_db_blocker.unblock():
        resp = Client().get("/api/schema/", {"format": "json"})
    assert resp.status_code == 200
    return json.loads(resp.content)


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_served_route_is_documented_with_its_methods_and_nothing_else(document):
    documented = {path: set(ops) for path, ops in document["paths"].items() if path.startswith("/v1/")}
    served = {path: {method.lower() for method in methods} for path, methods in ROUTES.items()}
    assert documented == served


@pytest.mark.parametrize("op", BODIES, ids=lambda op: op.path)
def test_request_schema_lists_exactly_the_declared_fields(document, op):
    body = document["paths"][op.path][op.method.lower()]["requestBody"]["content"]["application/json"]["schema"]
    schema = _resolve(document, body)
    assert set(schema["properties"]) == set(op.request.fields)
    assert set(schema.get("required", ())) == set(op.request.required)
    assert schema["additionalProperties"] is False


def test_auth_schemes_are_both_documented(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["ClientKeyBearer"]["scheme"] == "bearer"
    assert schemes["ClientKeyHeader"] == {**schemes["ClientKeyHeader"], "in": "header", "name": "x-api-key"}
    assert document["paths"]["/v1/health"]["get"]["security"] == []
    assert len(document["paths"]["/v1/models"]["get"]["security"]) == 2


def test_a_path_parameter_is_documented(document):
    op = document["paths"]["/v1/models/{model}"]["get"]
    [param] = [p for p in op["parameters"] if p["in"] == "path"]
    assert (param["name"], param["required"]) == ("model", True)
    assert set(op["responses"]) >= {"200", "401", "404"}


# --- the parser enforces the declarations (through the served ASGI route) -------------------
def _wrong_type(types: tuple[type, ...]) -> object:
    return next(v for v in ({"x": 1}, ["x"], "x", 12, True) if type(v) not in types)


@pytest.fixture
async def post(transactional_db):
    key = await db_run(lambda: client_create("declared"))
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

        async def send(path: str, body: dict) -> httpx.Response:
            return await client.post(path, json=body, headers={"authorization": f"Bearer {key}"})

        yield send


@pytest.mark.parametrize("op", BODIES, ids=lambda op: op.path)
async def test_each_declared_field_is_checked_by_the_route(post, op):
    assert op.request.example is not None, "each request declaration carries a valid example"
    for name, shape in op.request.fields.items():
        r = await post(op.path, {**op.request.example, name: _wrong_type(shape.types)})
        assert r.status_code == 400, (name, r.text)
        assert r.json()["error"]["param"] == name, r.text
    for name in op.request.required:
        r = await post(op.path, {k: v for k, v in op.request.example.items() if k != name})
        assert (r.status_code, r.json()["error"]["param"]) == (400, name)
    r = await post(op.path, {**op.request.example, "undeclared": 1})
    assert (r.status_code, r.json()["error"]["param"]) == (400, "undeclared")


# --- the rendered answers fit their declared shapes ---------------------------------------------
def _result(**kw: object) -> CompletionResult:
    result = CompletionResult(
        request_id="r1", model="m", served_model="m", provider="oa",
        choices=[Choice(text="hi", finish_reason="stop")],
        usage=Usage(input_tokens=3, output_tokens=2, cache_read_tokens=1, cache_write_tokens=0),
        cost_usd=Decimal("0.0001"), cached=False, latency_ms=1.5,
    )  # fmt: skip
    return replace(result, **kw)  # type: ignore[arg-type]


def test_rendered_answers_fit_their_declarations():
    v1.COMPLETE_RESPONSE.check(native_json(_result()))
    v1.COMPLETE_RESPONSE.check(native_json(_result(choices=[Choice(text="hi")])))
    v1.CHAT_RESPONSE.check(openai_json(_result()))
    render = ChunkRenderer("r1", "m", include_usage=True)
    chunks = [*render(StreamDelta("hi")), *render(StreamEnd(_result()))]
    for chunk in chunks:
        v1.CHAT_CHUNK.check(json.loads(chunk.decode().removeprefix("data: ")))
    v1.COMPLETE_EVENT.check({"type": "delta", "text": "hi"})
    v1.COMPLETE_EVENT.check({"type": "done", **native_json(_result())})
    error = error_reply(UpstreamTimeout(), "r1")
    v1.ERROR.check(error.data)
    assert set(error.headers) >= set(v1.ERROR_HEADERS)
    assert tuple(result_headers(_result())) == v1.COMPLETION_HEADERS
