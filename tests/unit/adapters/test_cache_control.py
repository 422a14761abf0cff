"""Anthropic's cache_control and top_k in the request model: the anthropic kind sends them on the
same block or tool; the openai kind refuses both by name; ollama sends top_k and refuses
cache_control by name."""

from __future__ import annotations

import pytest

from providers_app.adapters.anthropic_request import request_params as anthropic_params
from providers_app.adapters.ollama_request import refusal_of as ollama_refusal
from providers_app.adapters.ollama_request import request_params as ollama_params
from providers_app.adapters.openai_request import refusal_of as openai_refusal
from providers_app.adapters.openai_request import request_params as openai_params
from providers_app.adapters.types import ChatOptions, ChatRequest, Message, TextPart, Tool, ToolCall
from providers_app.errors import InvalidRequest

EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
SCHEMA = {"type": "object", "properties": {}}


def _request(*, cached: bool = True, top_k: int | None = None) -> ChatRequest:
    messages = (
        Message("system", "a\n\nb", parts=(TextPart("a"), TextPart("b", HOUR))),
        Message("user", "hi", parts=(TextPart("hi", EPHEMERAL),)),
        Message("assistant", "", tool_calls=(ToolCall("toolu_1", "f", "{}", EPHEMERAL),)),
        Message("tool", "done", tool_call_id="toolu_1", cache_control=EPHEMERAL),
    )
    options = ChatOptions(tools=(Tool("f", parameters=SCHEMA, cache_control=EPHEMERAL),), top_k=top_k,
                          anthropic_blocks=True if cached else None)  # fmt: skip
    return ChatRequest(model="m", messages=messages, max_tokens=10, options=options)


def test_anthropic_sends_each_breakpoint_where_it_was_and_top_k():
    body = anthropic_params(_request(top_k=7), default_max_tokens=4096)
    assert body["system"] == [{"type": "text", "text": "a"}, {"type": "text", "text": "b", "cache_control": HOUR}]
    assert body["messages"][0] == {
        "role": "user",
        "content": [{"type": "text", "text": "hi", "cache_control": EPHEMERAL}],
    }
    assert body["messages"][1]["content"][0]["cache_control"] == EPHEMERAL
    assert body["messages"][2]["content"][0] == {
        "type": "tool_result", "tool_use_id": "toolu_1", "content": "done", "cache_control": EPHEMERAL,
    }  # fmt: skip
    assert body["tools"][0]["cache_control"] == EPHEMERAL and body["top_k"] == 7


def test_a_system_prompt_without_breakpoints_stays_one_text():
    request = ChatRequest(model="m", messages=(Message("system", "a"), Message("user", "hi", parts=(TextPart("hi"),))))
    assert anthropic_params(request, default_max_tokens=10)["system"] == "a"


@pytest.mark.parametrize("refusal", [openai_refusal, ollama_refusal])
def test_other_kinds_name_the_first_breakpoint(refusal):
    error = refusal(_request())
    assert isinstance(error, InvalidRequest) and error.field == "messages[0].content[1].cache_control"


def test_openai_refuses_top_k_and_raises_when_asked_to_send():
    request = _request(cached=False, top_k=3)
    assert openai_refusal(request).field == "top_k"
    with pytest.raises(InvalidRequest):
        openai_params(request)


def test_ollama_sends_top_k_as_an_option():
    request = ChatRequest(model="m", messages=(Message("user", "hi"),), options=ChatOptions(top_k=3))
    assert ollama_refusal(request) is None
    assert ollama_params(request)["options"] == {"top_k": 3}
