"""The embeddings contract with each official SDK: for the same call, the adapter puts on the
wire what the SDK sends (method, path, the headers that matter, the JSON body), and reads the
answer as the SDK does.

One deliberate difference: the `openai` SDK asks for base64 when its caller sets no encoding
(and decodes it itself); the adapter sends the encoding the gateway's client asked, or none,
so that the client gets back what it asked for.
"""

from __future__ import annotations

from typing import Any

import ollama
import openai
import pytest

from providers_app.adapters.types import EmbeddingRequest
from tests.fakes.server import FakeUpstream

from .support import API_KEY, build_adapter

MATTERS = ("authorization", "content-type", "openai-organization", "openai-project")
TEXTS = ["the same words", "and some more"]


def _seen(fake: FakeUpstream) -> tuple[str, str, dict[str, str], Any]:
    sent = fake.requests[-1]
    return sent.method, sent.path, {k: v for k, v in sent.headers.items() if k in MATTERS}, sent.json


@pytest.mark.parametrize(
    "call",
    [
        {"input": TEXTS, "encoding_format": "float"},
        {"input": TEXTS, "encoding_format": "base64", "dimensions": 4},
        {"input": "one string", "encoding_format": "float", "dimensions": 3, "user": "client-7"},
        {"input": ["a list of one"], "encoding_format": "base64", "user": "client-7"},
    ],
    ids=["float", "base64-dimensions", "one-string", "list-of-one"],
)
async def test_openai_adapter_sends_what_the_sdk_sends_and_reads_what_it_reads(fake, adapters, call):
    client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key=API_KEY, max_retries=0)
    answer = await client.embeddings.create(model="fake-embed", **call)
    await client.close()
    expected = _seen(fake)

    adapter = build_adapter("openai", fake.openai_base_url)
    adapters.append(adapter)
    inputs = (call["input"],) if isinstance(call["input"], str) else tuple(call["input"])
    result = await adapter.embed(
        EmbeddingRequest(
            model="fake-embed",
            inputs=inputs,
            dimensions=call.get("dimensions"),
            encoding_format=call["encoding_format"],
            user=call.get("user"),
        )
    )
    method, path, headers, body = _seen(fake)
    if body["input"] != expected[3]["input"]:
        # A list of one goes as its string: the same request to the API (one input, one vector).
        assert expected[3]["input"] == [body["input"]]
        body = {**body, "input": expected[3]["input"]}
    assert (method, path, headers, body) == expected

    # Asked explicitly, base64 reaches the SDK's caller as the text it is: the same as ours.
    assert result.vectors == [d.embedding for d in answer.data]
    assert result.usage.input_tokens == answer.usage.prompt_tokens


async def test_openai_without_an_encoding_the_adapter_sends_none_where_the_sdk_asks_base64(fake, adapters):
    client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key=API_KEY, max_retries=0)
    sdk_answer = await client.embeddings.create(model="fake-embed", input=TEXTS)
    await client.close()
    assert fake.requests[-1].json["encoding_format"] == "base64"

    adapter = build_adapter("openai", fake.openai_base_url)
    adapters.append(adapter)
    result = await adapter.embed(EmbeddingRequest(model="fake-embed", inputs=tuple(TEXTS)))
    assert "encoding_format" not in fake.requests[-1].json
    # OpenAI's default is floats: what the SDK's caller got (the SDK decoded its base64).
    assert result.vectors == [d.embedding for d in sdk_answer.data]


@pytest.mark.parametrize(
    "call",
    [{"input": TEXTS}, {"input": "one string", "dimensions": 3}],
    ids=["list", "one-string-dimensions"],
)
async def test_ollama_adapter_sends_what_the_sdk_embed_sends(fake, adapters, monkeypatch, call):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)  # the SDK would send it
    answer = await ollama.AsyncClient(host=fake.ollama_base_url).embed(model="fake-embed", **call)
    expected = _seen(fake)

    adapter = build_adapter("ollama", fake.ollama_base_url, api_key=None)
    adapters.append(adapter)
    inputs = (call["input"],) if isinstance(call["input"], str) else tuple(call["input"])
    result = await adapter.embed(EmbeddingRequest(model="fake-embed", inputs=inputs, dimensions=call.get("dimensions")))
    assert _seen(fake) == expected
    assert result.vectors == [list(v) for v in answer.embeddings]
    assert result.usage.input_tokens == answer.prompt_eval_count
