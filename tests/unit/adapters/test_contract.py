"""The contract with each official SDK: for the same call, the gateway's adapter puts on the
wire what the SDK itself sends — method, path, the headers that matter, and the JSON body.

The SDKs are not the gateway's transport (providers_app/adapters/http.py); they are the
reference. When an SDK upgrade changes its requests (a new `anthropic-version`, a renamed
field), this test fails and says where.
"""

from __future__ import annotations

from typing import Any

import anthropic
import ollama
import openai
import pytest

from providers_app.adapters.types import ChatRequest, Message
from tests.fakes.server import FakeUpstream

from .support import API_KEY, build_adapter, collect

# Headers that carry meaning for the provider (auth, API version, body type). The rest is
# telemetry (user-agent, x-stainless-*) or set per connection by the HTTP client.
MATTERS = ("authorization", "x-api-key", "anthropic-version", "content-type", "openai-organization", "openai-project")

REQUEST = ChatRequest(
    model="fake-small",
    messages=(Message("system", "Be brief."), Message("user", "the same words"), Message("assistant", "ok")),
    max_tokens=7,
    temperature=0.5,
    top_p=0.9,
    stop=("END",),
    user="client-7",
)
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "the same words"},
    {"role": "assistant", "content": "ok"},
]


async def _sdk_call(kind: str, fake: FakeUpstream, *, stream: bool) -> None:
    """REQUEST as a user of each SDK writes it."""
    if kind == "openai":
        client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key=API_KEY, max_retries=0)
        kwargs: dict[str, Any] = {
            "model": "fake-small",
            "messages": MESSAGES,
            "max_tokens": 7,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": ["END"],
            "user": "client-7",
        }
        if stream:
            async for _ in await client.chat.completions.create(
                **kwargs, stream=True, stream_options={"include_usage": True}
            ):
                pass
        else:
            await client.chat.completions.create(**kwargs)
        await client.close()
    elif kind == "anthropic":
        client_a = anthropic.AsyncAnthropic(base_url=fake.anthropic_base_url, api_key=API_KEY, max_retries=0)
        kwargs = {
            "model": "fake-small",
            "system": "Be brief.",
            "messages": MESSAGES[1:],
            "max_tokens": 7,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "client-7"},
            # No longer in the SDK's typed signature; still accepted by the API.
            "extra_body": {"temperature": 0.5, "top_p": 0.9},
        }
        if stream:
            async for _ in await client_a.messages.create(**kwargs, stream=True):
                pass
        else:
            await client_a.messages.create(**kwargs)
        await client_a.close()
    else:
        client_o = ollama.AsyncClient(host=fake.ollama_base_url)
        options = {"num_predict": 7, "temperature": 0.5, "top_p": 0.9, "stop": ["END"]}
        if stream:
            async for _ in await client_o.chat(model="fake-small", messages=MESSAGES, options=options, stream=True):
                pass
        else:
            await client_o.chat(model="fake-small", messages=MESSAGES, options=options)


def _normal(body: Any) -> Any:
    """Absent, null and empty-list fields mean the same to these APIs (ollama's SDK always sends `tools: []`)."""
    if isinstance(body, dict):
        return {k: _normal(v) for k, v in body.items() if v is not None and v != []}
    if isinstance(body, list):
        return [_normal(v) for v in body]
    return body


def _seen(fake: FakeUpstream) -> tuple[str, str, dict[str, str], Any]:
    sent = fake.requests[-1]
    headers = {k: v for k, v in sent.headers.items() if k in MATTERS}
    return sent.method, sent.path, headers, _normal(sent.json)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
async def test_the_adapter_sends_what_the_sdk_sends(fake, adapters, monkeypatch, kind, stream):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)  # the ollama SDK would send it
    await _sdk_call(kind, fake, stream=stream)
    expected = _seen(fake)

    base_url = {"openai": fake.openai_base_url, "anthropic": fake.anthropic_base_url}.get(kind, fake.ollama_base_url)
    adapter = build_adapter(kind, base_url, api_key=None if kind == "ollama" else API_KEY)
    adapters.append(adapter)
    if stream:
        await collect(adapter, REQUEST)
    else:
        await adapter.complete(REQUEST)

    assert _seen(fake) == expected


@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
async def test_the_model_listing_is_the_sdks_request(fake, adapters, monkeypatch, kind):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    if kind == "openai":
        sdk_client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key=API_KEY, max_retries=0)
        sdk_ids = [m.id async for m in sdk_client.models.list()]
    elif kind == "anthropic":
        sdk_client = anthropic.AsyncAnthropic(base_url=fake.anthropic_base_url, api_key=API_KEY, max_retries=0)
        sdk_ids = [m.id async for m in sdk_client.models.list()]
    else:
        sdk_ids = [m.model for m in (await ollama.AsyncClient(host=fake.ollama_base_url).list()).models]
    expected = _seen(fake)

    base_url = {"openai": fake.openai_base_url, "anthropic": fake.anthropic_base_url}.get(kind, fake.ollama_base_url)
    adapter = build_adapter(kind, base_url, api_key=None if kind == "ollama" else API_KEY)
    adapters.append(adapter)
    assert await adapter.list_models() == sdk_ids
    method, path, headers, _ = _seen(fake)
    assert (method, path) == expected[:2]
    # A GET has no body: the SDKs' content-type on it (ollama's) carries nothing.
    assert {k: v for k, v in headers.items() if k != "content-type"} == {
        k: v for k, v in expected[2].items() if k != "content-type"
    }
