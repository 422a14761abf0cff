"""The one transport (providers_app/adapters/http.py): redirects, proxies, per-request headers."""

from __future__ import annotations

import pytest

from providers_app.errors import UpstreamError, UpstreamServerError
from tests.fakes.behaviour import Behaviour

from .support import build_adapter, chat


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed_and_is_an_upstream_fault(make_adapter, fake, status):
    # Following it would POST the whole prompt to wherever the provider points.
    fake.script(Behaviour.error(status, headers={"Location": fake.openai_base_url + "/chat/completions"}))
    adapter = make_adapter()
    with pytest.raises(UpstreamServerError) as caught:
        await adapter.complete(chat("secret prompt"))
    assert caught.value.upstream_status == status
    assert caught.value.breaker_fault and caught.value.retryable
    assert "redirect" in caught.value.message and "not followed" in caught.value.message
    assert len(fake.requests) == 1


async def test_a_request_may_add_headers_to_the_adapters_own(fake, adapters):
    adapter = build_adapter("openai", fake.openai_base_url)
    adapters.append(adapter)
    response = await adapter._send(
        "POST", "/chat/completions", {"model": "m", "messages": []}, headers={"OpenAI-Organization": "org-7"}
    )
    assert response.status == 200
    sent = fake.requests[-1].headers
    assert sent["openai-organization"] == "org-7"
    assert sent["authorization"].startswith("Bearer ")  # the adapter's own stay
    await adapter.complete(chat())
    assert "openai-organization" not in fake.requests[-1].headers  # only for that request


async def test_the_proxy_of_the_environment_is_used_as_by_the_sdks(make_adapter, fake, provider, monkeypatch):
    # The SDKs honour HTTP(S)_PROXY / NO_PROXY; so does the gateway. The fake stands in for the
    # proxy: it answers the absolute-form request itself.
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", fake.openai_base_url.rsplit("/v1", 1)[0])
    base_url = "http://upstream.invalid" + ("/v1" if provider == "openai" else "")
    adapter = make_adapter(base_url=base_url)
    assert (await adapter.complete(chat("via the proxy"))).text == "via the proxy"
    assert fake.requests[-1].headers["host"] == "upstream.invalid"

    monkeypatch.setenv("NO_PROXY", "upstream.invalid")
    bypassing = make_adapter(base_url=base_url)
    with pytest.raises(UpstreamError):  # straight to a host that does not resolve
        await bypassing.complete(chat("not via the proxy"))
    assert len(fake.requests) == 1
