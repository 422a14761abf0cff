"""GET /v1/models/{model} through the served ASGI application, with the official openai SDK
(`client.models.retrieve`): a model the key may use, and a 404 (model_not_found) for one
that does not exist or that the key may not use."""

from __future__ import annotations

import httpx
import openai
import pytest

from aiproxy.asgi import application
from completions_app.services.db import db_run
from tests.factories import client_create, model_create, provider_create

pytestmark = pytest.mark.django_db(transaction=True)


def _catalog() -> None:
    oa = provider_create("oa-main", "openai", "http://127.0.0.1:9/v1")
    model_create("gpt-mini", oa, upstream="gpt-4o-mini")
    model_create("org/llama-3", oa)  # a name with a slash: the rest of the path


@pytest.fixture
async def http():
    await db_run(_catalog)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _sdk(http: httpx.AsyncClient, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url="http://testserver/v1", api_key=key, http_client=http, max_retries=0)


async def test_the_sdk_retrieves_a_model_the_key_may_use(http):
    client = await _sdk(http, await db_run(lambda: client_create("any-model")))
    model = await client.models.retrieve("gpt-mini")
    assert (model.id, model.object, model.created, model.owned_by) == ("gpt-mini", "model", 0, "oa-main")
    assert (await client.models.retrieve("org/llama-3")).id == "org/llama-3"
    listed = await client.models.list()
    assert {m.id for m in listed.data} == {"gpt-mini", "org/llama-3"}


async def test_unknown_or_not_allowed_is_404_model_not_found(http):
    client = await _sdk(http, await db_run(lambda: client_create("only-llama", models=("org/llama-3",))))
    for name in ("gpt-mini", "no-such-model"):  # not this key's, and not at all: the same answer
        with pytest.raises(openai.NotFoundError) as caught:
            await client.models.retrieve(name)
        error = caught.value.body
        assert error["type"] == error["code"] == "model_not_found", error
        assert caught.value.response.headers["x-request-id"]
    assert (await client.models.retrieve("org/llama-3")).owned_by == "oa-main"


async def test_the_route_needs_a_key_takes_get_and_head_only_and_a_name(http):
    assert (await http.get("/v1/models/gpt-mini")).status_code == 401
    key = await db_run(lambda: client_create("methods"))
    auth = {"authorization": f"Bearer {key}"}
    head = await http.head("/v1/models/gpt-mini", headers=auth)
    assert (head.status_code, head.content) == (200, b"")
    post = await http.post("/v1/models/gpt-mini", headers=auth)
    assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")
    assert (await http.get("/v1/models/", headers=auth)).status_code == 404  # no name: no such endpoint
    assert (await http.get("/v1/models", headers=auth)).json()["object"] == "list"
