"""The gateway's own Retry-After, end to end: the `serve` process, the fake upstream
process, the official openai SDK with its default retries, and the gRPC trailer.

A provider with one key: the upstream rate limits it once (`Retry-After: 3`), then
recovers. A client arriving while that key cools gets the gateway's own 429
(no upstream call). Without a Retry-After the SDK's default backoff (two retries,
~0.4 s then ~0.9 s) gives up before the key is back; with it, the SDK waits and
its retry is answered.
"""

from __future__ import annotations

import os
import time

import grpc
import httpx
import openai
import pytest

from aiproxy.v1 import proxy_pb2 as pb
from aiproxy.v1 import proxy_pb2_grpc
from tests.fakes.behaviour import Behaviour

from .gateway_process import CLIENT_KEY, GatewayProcess, fake_config

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}
COOLDOWN_S = 3  # longer than the SDK's whole default backoff, shorter than a test should wait


@pytest.fixture(scope="module")
def gateway(fake_upstream, tmp_path_factory):
    config = fake_config(fake_upstream.url)
    config["providers"].append({"name": "solo", "kind": "openai", "base_url": f"{fake_upstream.url}/v1",
                                "timeout_s": 5, "keys": [{"label": "solo-1", "secret": "sk-e2e-solo-key-5555"}]})  # fmt: skip
    config["models"].append({"name": "gpt-solo", "provider": "solo", "upstream_model": "gpt-4o-mini",
                             "input_per_mtok": "0.15", "output_per_mtok": "0.60"})  # fmt: skip
    gw = GatewayProcess(tmp_path_factory.mktemp("gw"), config).prepare().start()
    yield gw
    gw.stop()
    gw.drop_database(os.environ.get("DATABASE_URL", ""))


def _cool_the_only_key(gateway, fake) -> httpx.Response:
    """Another client's call meets the upstream's 429: the gateway cools the key."""
    fake.script(Behaviour.rate_limited(str(COOLDOWN_S), path="/v1/chat", times=1))
    r = httpx.post(f"{gateway.url}/v1/chat/completions", headers=AUTH, timeout=10,
                   json={"model": "gpt-solo", "messages": [{"role": "user", "content": "batch job"}]})  # fmt: skip
    assert r.status_code == 429, r.text
    return r


def test_the_openai_sdk_retries_after_the_gateways_retry_after(gateway, fake):
    first = _cool_the_only_key(gateway, fake)
    assert first.headers["retry-after"] == str(COOLDOWN_S)
    cooled_at = time.monotonic()

    # While the key cools the gateway answers itself, and says when to come back.
    r = httpx.post(f"{gateway.url}/v1/chat/completions", headers=AUTH, timeout=10,
                   json={"model": "gpt-solo", "messages": [{"role": "user", "content": "peek"}]})  # fmt: skip
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(r.headers["retry-after"]) <= COOLDOWN_S

    sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=CLIENT_KEY)  # default max_retries=2
    assert sdk.max_retries == 2
    completion = sdk.chat.completions.create(model="gpt-solo", messages=[{"role": "user", "content": "red green"}])
    assert completion.choices[0].message.content == "red green"
    assert time.monotonic() - cooled_at >= COOLDOWN_S - 0.5  # it waited for the key, not its own backoff
    # Upstream saw the rate-limited call and the answered retry, nothing in between.
    assert len([x for x in fake.requests() if x["path"].startswith("/v1/chat")]) == 2


def test_grpc_sends_retry_after_in_the_trailers(gateway, fake):
    _cool_the_only_key(gateway, fake)
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = proxy_pb2_grpc.AIProxyServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Complete(pb.CompleteRequest(model="gpt-solo", prompt="hi"), metadata=tuple(AUTH.items()), timeout=10)
    error = info.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(error.trailing_metadata())
    assert trailers["x-error-type"] == "rate_limit_error"
    assert 1 <= int(trailers["retry-after"]) <= COOLDOWN_S
