"""The `direct` transport sends what the SDK sends: same method, path, headers and body.

(Every other adapter test runs on `direct` too: ADAPTER_CASES and TRANSPORTS include it.)
"""

from __future__ import annotations

import asyncio

import pytest

from providers_app.adapters.base import ProviderAdapter
from tests.fakes.server import FakeUpstream

from .support import base_url_for, build_adapter, chat, collect

# Differ between any two requests or HTTP clients: framing, and the encodings the client decodes.
PER_CLIENT = {"content-length", "transfer-encoding", "connection", "accept-encoding", "host"}


async def _sent(adapter: ProviderAdapter, fake: FakeUpstream, *, stream: bool) -> tuple[str, str, dict, object]:
    request = chat("the same words", max_tokens=7, temperature=0.5)
    if stream:
        await collect(adapter, request)
    else:
        await adapter.complete(request)
    sent = fake.requests[-1]
    headers = {k: v for k, v in sent.headers.items() if k not in PER_CLIENT}
    return sent.method, sent.path, headers, sent.json


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_direct_sends_the_request_the_sdk_sends(fake, adapters, provider, stream):
    base_url = base_url_for(provider, fake)
    via_sdk = build_adapter(provider, "aiohttp", base_url)
    direct = build_adapter(provider, "direct", base_url)
    adapters.extend([via_sdk, direct])

    expected = await _sent(via_sdk, fake, stream=stream)
    got = await _sent(direct, fake, stream=stream)

    assert got == expected
    assert got[2]["authorization"].endswith("SECRETKEY-0123456789abcdef")  # the key is sent (API_KEY)


async def test_direct_builds_the_request_once_and_reuses_it(fake, adapters):
    direct = build_adapter("openai", "direct", fake.openai_base_url)
    adapters.append(direct)
    for _ in range(3):
        await direct.complete(chat("again"))
    await collect(direct, chat("and a stream"))
    assert sorted(direct._direct._templates) == [("/chat/completions", False), ("/chat/completions", True)]
    assert len(fake.requests) == 4  # the templates were captured in-process, never sent


async def test_calls_that_arrive_together_share_one_capture(fake, adapters, monkeypatch):
    direct = build_adapter("anthropic", "direct", fake.anthropic_base_url)
    adapters.append(direct)
    made: list[object] = []
    make = direct._direct._make_sdk_client

    def counting(http_client):
        made.append(http_client)
        return make(http_client)

    monkeypatch.setattr(direct._direct, "_make_sdk_client", counting)
    results = await asyncio.gather(*(direct.complete(chat(f"call {i}")) for i in range(20)))
    assert [r.text for r in results] == [f"call {i}" for i in range(20)]
    assert len(made) == 1
