"""Bad input on POST /v1/messages of a running gateway: each is the right 4xx in Anthropic's
shape ({"type": "error", "error": {"type", "message"}}), naming the field in the request's own
terms — including the rules the service checks for every route (tool names, tool_choice, a
tool_result answering nothing) and what a provider kind cannot take —, reaches no upstream, and
leaves no successful record."""

from __future__ import annotations

import base64
import gzip
import time

import httpx
import pytest

from tests.e2e.gateway_process import CLIENT_KEY
from tests.resilience.launcher import db_records

KEY = {"x-api-key": CLIENT_KEY}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOL = {"name": "get_weather", "input_schema": SCHEMA}
USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
QUESTION = {"role": "user", "content": "weather?"}


def _result(tool_use_id: str = "toolu_1", **kw: object) -> dict:
    return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use_id, **kw}]}


CASES = {
    "max_tokens missing": ({"max_tokens": None}, "max_tokens"),
    "max_tokens zero": ({"max_tokens": 0}, "max_tokens"),
    "no messages": ({"messages": []}, "messages"),
    "a system role": ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
    "temperature over 1": ({"temperature": 1.2}, "temperature"),
    "thinking": ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, "thinking"),
    "top_k": ({"top_k": 5}, "top_k"),
    "service_tier": ({"service_tier": "auto"}, "service_tier"),
    "mcp_servers": ({"mcp_servers": []}, "mcp_servers"),
    "cache_control on system": ({"system": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]},
                                "system[0].cache_control"),
    "cache_control on a block": ({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}]}, "messages[0].content[0].cache_control"),
    "a document without a source type": ({"messages": [{"role": "user", "content": [
        {"type": "document", "source": {}}]}]}, "messages[0].content[0].source.type"),
    "a block the gateway does not take": ({"messages": [{"role": "user", "content": [{"type": "search_result"}]}]},
                                          "messages[0].content[0].type"),
    "a server tool": ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
    "tool_result answering nothing": ({"messages": [QUESTION, _result("toolu_9", content="x")]},
                                      "messages[1].content[0].tool_use_id"),
    "tool_result answering a later call": ({"messages": [_result(content="x"), {"role": "assistant", "content": [USE]}]},
                                           "messages[0].content[0].tool_use_id"),
    "tool_use in a user turn": ({"messages": [{"role": "user", "content": [USE]}]}, "messages[0].content[0].type"),
    "an image not base64": ({"messages": [{"role": "user", "content": [{"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": "not base64!"}}]}]},
        "messages[0].content[0].source.data"),
    "an image type": ({"messages": [{"role": "user", "content": [{"type": "image", "source": {
        "type": "base64", "media_type": "application/pdf", "data": "aGVsbG8="}}]}]},
        "messages[0].content[0].source.media_type"),
    # The service's own checks, named in this request's terms:
    "a tool name": ({"tools": [{"name": "get weather!", "input_schema": SCHEMA}]}, "tools[0].name"),
    "a tool schema of a string": ({"tools": [{"name": "f", "input_schema": {"type": "string"}}]},
                                  "tools[0].input_schema.type"),
    "tool_choice undeclared": ({"tools": [TOOL], "tool_choice": {"type": "tool", "name": "other"}}, "tool_choice"),
    "tool_choice tool without a name": ({"tools": [TOOL], "tool_choice": {"type": "tool"}}, "tool_choice.name"),
    "a tool_use name": ({"messages": [QUESTION, {"role": "assistant", "content": [{**USE, "name": "bad name!"}]},
                                      _result(content="x")]}, "messages[1].content[0]"),
    "an unknown field": ({"frequency_penalty": 1}, "frequency_penalty"),
}  # fmt: skip


def _post(gw, body: dict, *, headers: dict | None = None, model: str = "gpt-4o-mini") -> httpx.Response:
    full = {"model": model, "max_tokens": 20, "messages": [QUESTION], **body}
    full = {k: v for k, v in full.items() if v is not None}
    return httpx.post(f"{gw.url}/v1/messages", json=full, headers={**KEY, **(headers or {})}, timeout=20)


def _refused(gw, fake, r: httpx.Response, status: int, error_type: str = "invalid_request_error") -> dict:
    assert r.status_code == status, r.text[:300]
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type and body["error"]["message"]
    assert fake.requests() == []  # nothing reached an upstream
    time.sleep(0.3)  # one writer batch interval: a record, if any, is there
    rows = [row for row in db_records(gw) if row["request_id"] == r.headers["x-request-id"]]
    assert all(row["status"] != "ok" for row in rows)
    return body["error"]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_messages_requests_are_400_naming_the_field(gateway, fake, case):
    body, field = CASES[case]
    error = _refused(gateway, fake, _post(gateway, body), 400)
    assert error["param"] == field, error
    assert field.split(".")[0].split("[")[0] in error["message"], error


@pytest.mark.parametrize("version", ["latest", "2023-6-1", "1"])
def test_a_version_that_is_not_a_date_is_400(gateway, fake, version):
    error = _refused(gateway, fake, _post(gateway, {}, headers={"anthropic-version": version}), 400)
    assert error["param"] == "anthropic-version"


def test_what_a_kind_cannot_take_is_named_in_the_requests_terms(gateway, fake):
    # Anthropic fetches images only over https: the kind's refusal names the block.
    body = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what?"}, {"type": "image", "source": {"type": "url", "url": "http://x.test/a.png"}}]}]}  # fmt: skip
    error = _refused(gateway, fake, _post(gateway, body, model="claude-3-5-haiku"), 400)
    assert error["param"] == "messages[0].content[1]", error


def test_bodies_that_are_not_json_objects(gateway, fake):
    url = f"{gateway.url}/v1/messages"
    for content, headers in [(b"{", {}), (b"[1]", {}), (b"", {}), (b"{}", {"content-type": "text/plain"})]:
        r = httpx.post(url, content=content, headers={**KEY, **headers}, timeout=20)
        assert r.status_code in (400, 415), r.text
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    assert fake.requests() == []


def test_too_large_is_413_request_too_large(gateway, fake):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 70_000).decode()  # the gateway's limit: 65536 bytes
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}}
    _refused(gateway, fake, _post(gateway, {"messages": [{"role": "user", "content": [image]}]}), 413,
             "request_too_large")  # fmt: skip
    bomb = gzip.compress(b'{"model": "gpt-4o-mini", "x": "' + b"a" * 200_000 + b'"}')
    r = httpx.post(f"{gateway.url}/v1/messages", content=bomb, timeout=20,
                   headers={**KEY, "content-type": "application/json", "content-encoding": "gzip"})  # fmt: skip
    _refused(gateway, fake, r, 413, "request_too_large")


def test_no_key_and_a_bad_key_are_401(gateway, fake):
    for headers in ({}, {"x-api-key": "aip_not_a_key"}, {"authorization": "Bearer aip_not_a_key"}):
        r = httpx.post(f"{gateway.url}/v1/messages", json={}, headers=headers, timeout=20)
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


def test_a_valid_tool_loop_is_served(gateway, fake):
    body = {"tools": [TOOL], "messages": [QUESTION, {"role": "assistant", "content": [USE]},
                                          _result(content="sunny", is_error=False)]}  # fmt: skip
    r = _post(gateway, body)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["type"] == "message" and r.json()["content"][0]["type"] == "text"
    assert len(fake.requests()) == 1
