"""Bad tools, tool turns and images, on both completion endpoints of a running gateway: each
is a 400 naming the field (413 for an image over MAX_REQUEST_BYTES), reaches no upstream,
and leaves a record of the refusal, never a successful one."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from tests.resilience.helpers import AUTH
from tests.resilience.launcher import db_records

ENDPOINTS = ["/v1/complete", "/v1/chat/completions"]
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
QUESTION = {"role": "user", "content": "weather?"}


def _image(url: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": "what is it?"},
                                         {"type": "image_url", "image_url": {"url": url}}]}]  # fmt: skip


CASES = {
    "schema not an object": ({"tools": [{"type": "function", "function": {"name": "f", "parameters": ["x"]}}]},
                             "tools[0].function.parameters"),
    "schema of a string": ({"tools": [{"type": "function", "function": {"name": "f",
                                                                       "parameters": {"type": "string"}}}]},
                           "tools[0].function.parameters.type"),
    "tool name": ({"tools": [{"type": "function", "function": {"name": "get weather!"}}]}, "tools[0].function.name"),
    "tool_choice undeclared": ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "other"}}},
                               "tool_choice"),
    "tool_choice without tools": ({"tool_choice": "required"}, "tool_choice"),
    "tool message without tool_call_id": ({"messages": [QUESTION, {"role": "assistant", "tool_calls": [CALL]},
                                                        {"role": "tool", "content": "sunny"}]},
                                          "messages[2].tool_call_id"),
    "tool message answering nothing": ({"messages": [QUESTION, {"role": "assistant", "tool_calls": [CALL]},
                                                     {"role": "tool", "tool_call_id": "call_9", "content": "sunny"}]},
                                       "messages[2].tool_call_id"),
    "tool message before any call": ({"messages": [{"role": "tool", "tool_call_id": "call_1", "content": "x"}]},
                                     "messages[0].tool_call_id"),
    "assistant without content or calls": ({"messages": [QUESTION, {"role": "assistant"}]}, "messages[1].content"),
    "image not base64": ({"messages": _image("data:image/png;base64,not base64!")},
                         "messages[0].content[1].image_url.url"),
    "image not an image": ({"messages": _image("data:application/pdf;base64,aGVsbG8=")},
                           "messages[0].content[1].image_url.url"),
    "image not a URL": ({"messages": _image("file:///etc/passwd")}, "messages[0].content[1].image_url.url"),
    "image in a system message": ({"messages": [{"role": "system", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}, QUESTION]},
        "messages[0].content[0].image_url"),
    "json_schema not an object": ({"response_format": {"type": "json_schema",
                                                       "json_schema": {"name": "x", "schema": {"type": "array"}}}},
                                  "response_format.json_schema.schema.type"),
}  # fmt: skip


def _post(gw, endpoint: str, body: dict) -> httpx.Response:
    full = {"model": "gpt-4o-mini", "messages": [QUESTION], **body}
    return httpx.post(f"{gw.url}{endpoint}", json=full, headers=AUTH, timeout=20)


def _refused_cleanly(gw, fake, r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text[:300]
    error = r.json()["error"]
    assert fake.requests() == []  # nothing reached an upstream
    time.sleep(0.3)  # one writer batch interval: a record, if any, is there
    rows = [row for row in db_records(gw) if row["request_id"] == r.headers["x-request-id"]]
    assert all(row["status"] != "ok" for row in rows)
    return error


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", list(CASES))
def test_bad_tools_turns_and_images_are_400_naming_the_field(gateway, fake, endpoint, case):
    body, field = CASES[case]
    error = _refused_cleanly(gateway, fake, _post(gateway, endpoint, body), 400)
    assert error["param"] == field, error
    assert error["type"] == "invalid_request_error" and error["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_image_over_max_request_bytes_is_413(gateway, fake, endpoint):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 70_000).decode()  # the gateway's limit: 65536 bytes
    body = {"messages": _image(f"data:image/png;base64,{png}")}
    error = _refused_cleanly(gateway, fake, _post(gateway, endpoint, body), 413)
    assert error["type"] == "request_too_large"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"n": 2}, "n"), ({"logprobs": True}, "logprobs"), ({"logit_bias": {"1": 1}}, "logit_bias")],
)
def test_openai_only_fields_are_not_taken_by_the_native_endpoint(gateway, fake, body, field):
    error = _refused_cleanly(gateway, fake, _post(gateway, "/v1/complete", body), 400)
    assert error["param"] == field


def test_a_valid_tool_loop_request_is_served(gateway, fake):
    # The same shapes, correct, are not refused: the conversation reaches the upstream.
    body = {"tools": [TOOL], "tool_choice": "auto", "messages": [
        QUESTION, {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]}  # fmt: skip
    r = _post(gateway, "/v1/chat/completions", body)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["object"] == "chat.completion"
    assert r.json()["choices"][0]["message"]["role"] == "assistant"
    assert len(fake.requests()) == 1
