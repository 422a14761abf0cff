"""REST end to end: the gateway subprocess, real sockets, the official openai SDK."""

from __future__ import annotations

import json
import socket
import time
import uuid

import httpx
import openai
import pytest

from tests.fakes.behaviour import Behaviour

from .gateway_process import CLIENT_KEY

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}


def _sdk(gateway, cls=openai.OpenAI):
    return cls(base_url=f"{gateway.url}/v1", api_key=CLIENT_KEY, max_retries=0)


def _records_for(gateway, request_id: str, tries: int = 50) -> list[dict]:
    for _ in range(tries):  # records are written in batches off the request path
        rows = [r for r in gateway.records() if r["request_id"] == request_id]
        if rows:
            return rows
        time.sleep(0.1)
    return []


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-haiku", "llama3"])
def test_openai_sdk_non_stream_any_provider(gateway, fake, model):
    resp = _sdk(gateway).chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "red green blue"}],
        temperature=0.2,
        max_tokens=50,
    )
    completion = resp.parse()
    assert completion.choices[0].message.content == "red green blue"
    assert completion.usage.completion_tokens == 3
    assert completion.model == model
    assert resp.headers["x-aiproxy-cache"] == "MISS"
    assert resp.headers["x-aiproxy-provider"] in ("oa", "an", "ol")
    rid = resp.headers["x-request-id"]
    [record] = _records_for(gateway, rid)
    assert record["status"] == "ok" and record["model"] == model
    assert record["cost_usd"] == resp.headers["x-aiproxy-cost-usd"]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-haiku"])
def test_openai_sdk_stream_with_usage(gateway, fake, model):
    stream = _sdk(gateway).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "one two three four five"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]


async def test_async_openai_sdk_stream_and_not(gateway, fake):
    client = _sdk(gateway, openai.AsyncOpenAI)
    done = await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a b"}])
    assert done.choices[0].message.content == "a b"
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "c d"}], stream=True
    )
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "c d"
    models = await client.models.list()
    assert {m.id for m in models.data} == {"gpt-4o-mini", "claude-3-5-haiku", "llama3"}
    await client.close()


def test_openai_sdk_sees_errors_as_its_own(gateway, fake):
    client = _sdk(gateway)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    bad = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="aip_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], n=17)


def test_native_complete_json_and_headers(gateway, fake):
    r = httpx.post(
        f"{gateway.url}/v1/complete",
        headers={**AUTH, "x-request-id": "my-req-1"},
        json={"model": "gpt-4o-mini", "prompt": "hello world", "temperature": 0},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] == "hello world" and body["usage"]["input_tokens"] == 2
    assert body["cost_usd"] == "0.0000015"  # 2 × 0.15 + 2 × 0.60 per million
    assert r.headers["x-request-id"] == "my-req-1"
    assert r.headers["x-aiproxy-cost-usd"] == "0.0000015"
    again = httpx.post(
        f"{gateway.url}/v1/complete",
        headers=AUTH,
        json={"model": "gpt-4o-mini", "prompt": "hello world", "temperature": 0},
    )
    assert again.headers["x-aiproxy-cache"] == "HIT" and again.json()["cached"] is True
    nocache = httpx.post(
        f"{gateway.url}/v1/complete",
        headers={**AUTH, "cache-control": "no-cache"},
        json={"model": "gpt-4o-mini", "prompt": "hello world", "temperature": 0},
    )
    assert nocache.headers["x-aiproxy-cache"] == "MISS"


def test_native_sse_stream(gateway, fake):
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/complete",
        headers=AUTH,
        json={"model": "claude-3-5-haiku", "prompt": "stream this out", "stream": True},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events] == ["delta"] * 3 + ["done"]
    assert "".join(e["text"] for e in events[:-1]) == "stream this out"
    done = events[-1]
    assert done["usage"]["output_tokens"] == 3 and done["provider"] == "an" and done["cost_usd"] != "0"


def test_stream_cut_upstream_ends_with_an_error_event(gateway, fake):
    fake.script(Behaviour.disconnect(after_frames=3, path="/v1/chat"))
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/complete",
        headers=AUTH,
        json={"model": "gpt-4o-mini", "prompt": "a b c d e f g h", "stream": True},
    ) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1].get("error"), events
    rid = r.headers["x-request-id"]
    [record] = _records_for(gateway, rid)
    assert record["status"] == "error" and record["stream"] == "true"


def test_client_dropping_a_stream_cancels_the_upstream(gateway, fake):
    fake.script(Behaviour.ok(chunks=30, chunk_delay_s=0.1, path="/v1/chat"))
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/complete",
        headers=AUTH,
        json={"model": "gpt-4o-mini", "prompt": " ".join(["w"] * 30), "stream": True},
    ) as r:
        rid = r.headers["x-request-id"]
        for line in r.iter_lines():
            if line.startswith("data: "):
                break  # leave after the first event
    for _ in range(50):
        if fake.stats()["disconnects"] >= 1:
            break
        time.sleep(0.1)
    assert fake.stats()["disconnects"] == 1
    assert fake.stats()["streams_completed"] == 0
    [record] = _records_for(gateway, rid)
    assert record["status"] == "error" and int(record["output_tokens"]) > 0


def test_client_leaving_a_non_streamed_call_cancels_the_upstream_call(gateway, fake):
    """The connection closes while the upstream is still thinking: `serve`'s protocol cancels the
    call at once, rather than the gateway waiting for an answer nobody will read."""
    fake.script(Behaviour.hang(30, path="/v1/chat"))
    rid = uuid.uuid4().hex
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {CLIENT_KEY}\r\n"
        f"Content-Type: application/json\r\nX-Request-Id: {rid}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gateway.http_port), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        for _ in range(50):  # until the upstream has the request
            if fake.stats()["requests"]:
                break
            time.sleep(0.1)
    [record] = _records_for(gateway, rid)
    assert (record["status"], record["stream"], record["output_tokens"]) == ("error", "false", "0")
    # Ended when the client left, not at the provider's 5 s timeout (a fact, not a speed target).
    assert float(record["latency_ms"]) < 4000, record
    fake.reset()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer nope"},
        {"x-api-key": "nope"},
        {"authorization": "Basic abc"},
        {"authorization": "Bearer ' OR 1=1 --"},
        {"authorization": "Bearer " + "A" * 10_000},
    ],
)
def test_auth_failures_are_401_json(gateway, headers):
    r = httpx.post(f"{gateway.url}/v1/complete", headers=headers, json={"model": "gpt-4o-mini", "prompt": "x"})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert r.headers["x-request-id"]


def test_x_api_key_works(gateway, fake):
    r = httpx.post(
        f"{gateway.url}/v1/complete", headers={"x-api-key": CLIENT_KEY}, json={"model": "llama3", "prompt": "ok go"}
    )
    assert r.status_code == 200 and r.json()["provider"] == "ol"


def test_health_status_and_metrics(gateway, fake):
    assert httpx.get(f"{gateway.url}/v1/health").json() == {"status": "ok", "database": True, "cache": True}
    assert httpx.get(f"{gateway.url}/v1/providers/status").status_code == 401
    status = httpx.get(f"{gateway.url}/v1/providers/status", headers=AUTH).json()
    names = {p["name"]: p for p in status["providers"]}
    assert set(names) == {"oa", "an", "ol"}
    assert names["oa"]["state"] == "closed" and names["oa"]["keys_enabled"] == 2
    assert "sk-e2e" not in json.dumps(status)
    httpx.post(f"{gateway.url}/v1/complete", headers=AUTH, json={"model": "gpt-4o-mini", "prompt": "count me"})
    text = gateway.metrics()
    for name in (
        "ai_proxy_requests_total",
        "ai_proxy_request_duration_seconds",
        "ai_proxy_tokens_used_total",
        "ai_proxy_cost_total",
        "ai_proxy_cache_hits_total",
        "ai_proxy_circuit_breaker_state",
    ):
        assert name in text, name
    assert 'ai_proxy_requests_total{model="gpt-4o-mini",provider="oa",status="ok"}' in text


def test_openapi_schema_and_docs(gateway):
    schema = httpx.get(f"{gateway.url}/api/schema/", headers={"accept": "application/json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"] if schema.headers["content-type"].startswith("application/json") else None
    if paths is None:
        import yaml

        paths = yaml.safe_load(schema.text)["paths"]
    for p in ("/v1/complete", "/v1/chat/completions", "/v1/models", "/v1/health", "/v1/providers/status"):
        assert p in paths
    assert httpx.get(f"{gateway.url}/api/docs/").status_code == 200
    assert httpx.get(f"{gateway.url}/admin/login/").status_code == 200
    # serve answers for the admin's and the report's static files itself.
    css = httpx.get(f"{gateway.url}/static/admin/css/base.css")
    assert css.status_code == 200
    assert "text/css" in css.headers["content-type"]
