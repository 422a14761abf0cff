"""The `direct` transport sends what the SDK sends: same method, path, headers and body.

(Every other adapter test runs on `direct` too: ADAPTER_CASES and TRANSPORTS include it.)
"""

from __future__ import annotations

import asyncio

import pytest

from aiproxy.errors import UpstreamError
from providers_app.adapters import capture
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
    runs: list[tuple[capture.Spec, ...]] = []
    in_process = capture._in_process

    async def counting(specs):
        runs.append(specs)
        return await in_process(specs)

    monkeypatch.setattr(capture, "_in_process", counting)
    # Two keys of one provider: the capture holds no key, so they share it.
    one = build_adapter("anthropic", "direct", fake.anthropic_base_url, api_key="sk-ant-first-key-0000")
    two = build_adapter("anthropic", "direct", fake.anthropic_base_url, api_key="sk-ant-second-key-000")
    adapters.extend([one, two])
    results = await asyncio.gather(*(a.complete(chat(f"call {i}")) for i in range(10) for a in (one, two)))
    assert [r.text for r in results] == [f"call {i}" for i in range(10) for _ in (one, two)]
    assert len(runs) == 1
    keys = {r.headers["authorization"] for r in fake.requests}
    assert keys == {"Bearer sk-ant-first-key-0000", "Bearer sk-ant-second-key-000"}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_helper_process_builds_the_same_request(fake, adapters, monkeypatch, provider):
    base_url = base_url_for(provider, fake)
    in_process = build_adapter(provider, "direct", base_url)
    adapters.append(in_process)
    expected = await _sent(in_process, fake, stream=False)

    monkeypatch.setattr(capture, "_done", {})
    monkeypatch.setitem(capture._state, "helper", True)
    helped = build_adapter(provider, "direct", base_url)
    adapters.append(helped)
    assert await _sent(helped, fake, stream=False) == expected


async def test_a_failing_helper_fails_the_call_with_a_gateway_error(fake, adapters, monkeypatch, caplog):
    monkeypatch.setattr(capture, "_done", {})
    monkeypatch.setitem(capture._state, "helper", True)
    monkeypatch.setattr(capture, "__name__", "providers_app.adapters.no_such_module")
    direct = build_adapter("openai", "direct", fake.openai_base_url)
    adapters.append(direct)
    with pytest.raises(UpstreamError):
        await direct.complete(chat("x"))
    assert "building the openai request in a helper process failed" in caplog.text
    assert fake.requests == []


@pytest.mark.parametrize("transport", ["aiohttp", "direct"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_proxy_of_the_environment_is_used_as_by_the_sdk(fake, adapters, monkeypatch, provider, transport):
    # The SDKs' clients honour HTTP(S)_PROXY / NO_PROXY (httpx2's trust_env); direct does too.
    # The fake stands in for the proxy: it answers the absolute-form request itself.
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", fake.openai_base_url.rsplit("/v1", 1)[0])
    monkeypatch.setattr(capture, "_done", {})
    base_url = "http://upstream.invalid/v1" if provider == "openai" else "http://upstream.invalid"
    adapter = build_adapter(provider, transport, base_url)
    adapters.append(adapter)
    assert (await adapter.complete(chat("via the proxy"))).text == "via the proxy"
    assert fake.requests[-1].headers["host"] == "upstream.invalid"

    monkeypatch.setenv("NO_PROXY", "upstream.invalid")
    monkeypatch.setattr(capture, "_done", {})
    bypassing = build_adapter(provider, transport, base_url)
    adapters.append(bypassing)
    with pytest.raises(UpstreamError):  # straight to a host that does not resolve
        await bypassing.complete(chat("not via the proxy"))
    assert len(fake.requests) == 1
