"""POST /v1/messages/count_tokens through the served ASGI application, driven by the anthropic
SDK's `messages.count_tokens`: forwarded as sent (the upstream model's name in it, the
provider's key, Anthropic's version header) to an anthropic provider's own count_tokens — here a
local HTTP server speaking that endpoint's wire format —, its 529 as Anthropic's 529; any other
kind is a 400 naming `model`."""

from __future__ import annotations

import json

import anthropic
import httpx2
import pytest
from aiohttp import web

from aiproxy.asgi import application
from completions_app.services.catalog import catalog_invalidate
from completions_app.services.db import db_run
from tests.factories import client_create, model_create, provider_create
from tests.unit.services.conftest import gw

__all__ = ["gw"]  # the fixture, used by name

pytestmark = pytest.mark.django_db(transaction=True)


class CountServer:
    """Anthropic's POST /v1/messages/count_tokens: {"input_tokens": n}, or a scripted error."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict, dict]] = []  # (headers, body)
        self.fail_with: int | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.seen.append((dict(request.headers), body))
        if self.fail_with is not None:
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            return web.json_response(error, status=self.fail_with)
        words = sum(len(str(m["content"]).split()) for m in body["messages"]) + len(body.get("system", "").split())
        return web.json_response({"input_tokens": words + 7})


@pytest.fixture
async def counter(gw, unused_tcp_port):
    server = CountServer()
    app = web.Application()
    app.router.add_post("/v1/messages/count_tokens", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()

    def create() -> None:
        provider = provider_create("an-count", "anthropic", f"http://127.0.0.1:{unused_tcp_port}",
                                   keys=("sk-ant-count-4444",))  # fmt: skip
        model_create("claude-count", provider, upstream="claude-sonnet-4-5")

    await db_run(create)
    catalog_invalidate()
    yield server
    await runner.cleanup()
    catalog_invalidate()


@pytest.fixture
async def sdk(gw):
    key = await db_run(lambda: client_create("count-tester"))
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=application), base_url="http://testserver")
    client = anthropic.AsyncAnthropic(base_url="http://testserver", api_key=key, http_client=http, max_retries=0)
    yield client
    await client.close()


async def test_counted_by_the_anthropic_provider_as_sent(sdk, counter):
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    counted = await sdk.messages.count_tokens(
        model="claude-count", system="be brief", messages=[{"role": "user", "content": "one two three"}], tools=tools
    )
    assert counted.input_tokens == 3 + 2 + 7
    [(headers, body)] = counter.seen
    assert body == {"model": "claude-sonnet-4-5", "system": "be brief", "tools": tools,
                    "messages": [{"role": "user", "content": "one two three"}]}  # fmt: skip
    assert headers["Authorization"] == "Bearer sk-ant-count-4444" and headers["anthropic-version"]


async def test_other_kinds_and_unknown_models_are_refused(sdk, counter):
    with pytest.raises(anthropic.BadRequestError) as caught:
        await sdk.messages.count_tokens(model="gpt-mini", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["param"] == "model"
    assert "anthropic provider" in caught.value.body["error"]["message"]
    with pytest.raises(anthropic.NotFoundError):
        await sdk.messages.count_tokens(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.BadRequestError) as caught:
        await sdk.messages.count_tokens(model="claude-count", messages=[], extra_body={"max_tokens": 5})
    assert caught.value.body["error"]["param"] == "max_tokens"
    assert counter.seen == []


async def test_an_overloaded_provider_is_anthropics_529(sdk, counter):
    counter.fail_with = 529
    with pytest.raises(anthropic.InternalServerError) as caught:
        await sdk.messages.count_tokens(model="claude-count", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 529 and caught.value.body["error"]["type"] == "overloaded_error"
    assert json.loads(json.dumps(counter.seen[0][1]))["model"] == "claude-sonnet-4-5"
