"""The checks every interface's requests pass before any provider is asked (chat_checks.py)."""

from __future__ import annotations

import base64

import pytest

from completions_app.services.chat_checks import check_rich, image_part
from providers_app.adapters.types import ChatOptions, Message, ResponseFormat, Tool, ToolCall, ToolChoice
from providers_app.errors import InvalidRequest

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
LOOKUP = Tool("lookup", parameters={"type": "object", "properties": {"q": {"type": "string"}}})
USER = Message("user", "hi")


def _field(call) -> str | None:
    with pytest.raises(InvalidRequest) as info:
        call()
    return info.value.field


def test_image_urls_and_data_urls():
    assert image_part("https://x.test/a.png", field="f").data is None
    part = image_part(f"data:image/png;base64,{PNG}", detail="low", field="f")
    assert (part.media_type, part.data, part.detail) == ("image/png", PNG, "low")
    assert _field(lambda: image_part("data:image/png;base64,not base64!", field="m[0]")) == "m[0]"
    assert _field(lambda: image_part(f"data:text/html;base64,{PNG}", field="m[1]")) == "m[1]"
    assert _field(lambda: image_part("ftp://x.test/a.png", field="m[2]")) == "m[2]"
    assert _field(lambda: image_part("data:image/png;base64,", field="m[3]")) == "m[3]"


def test_a_tool_loop_passes():
    messages = (
        USER,
        Message("assistant", "", tool_calls=(ToolCall("call_1", "lookup", '{"q": "x"}'),)),
        Message("tool", "42", tool_call_id="call_1"),
    )
    check_rich(messages, ChatOptions(tools=(LOOKUP,), tool_choice=ToolChoice("function", "lookup")))


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ((USER, Message("tool", "42")), "messages[1].tool_call_id"),
        ((USER, Message("tool", "42", tool_call_id="call_9")), "messages[1].tool_call_id"),
        ((Message("user", "x", tool_calls=(ToolCall("c", "f", "{}"),)),), "messages[0].tool_calls"),
        ((Message("assistant", "", tool_calls=(ToolCall("", "f", "{}"),)),), "messages[0].tool_calls[0].id"),
        ((USER, Message("user", "x", tool_call_id="c")), "messages[1].tool_call_id"),
    ],
)
def test_tool_turns_that_answer_nothing_are_refused(messages, field):
    assert _field(lambda: check_rich(messages, None)) == field


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (ChatOptions(tools=(Tool("lookup", parameters={"type": "array"}),)), "tools[0].function.parameters"),
        (ChatOptions(tools=(Tool("lookup", parameters=[1]),)), "tools[0].function.parameters"),  # type: ignore[arg-type]
        (ChatOptions(tools=(Tool("bad name"),)), "tools[0].function.name"),
        (ChatOptions(tools=(LOOKUP, LOOKUP)), "tools[1].function.name"),
        (ChatOptions(tools=(LOOKUP,), tool_choice=ToolChoice("function", "other")), "tool_choice"),
        (ChatOptions(tool_choice=ToolChoice("required")), "tool_choice"),
        (ChatOptions(parallel_tool_calls=False), "parallel_tool_calls"),
        (ChatOptions(response_format=ResponseFormat("json_schema", name="x")), "response_format.json_schema.schema"),
        (
            ChatOptions(response_format=ResponseFormat("json_schema", name="x", schema={"type": "string"})),
            "response_format.json_schema.schema",
        ),
        (ChatOptions(n=0), "n"),
        (ChatOptions(top_logprobs=3), "top_logprobs"),
        (ChatOptions(reasoning_effort="max"), "reasoning_effort"),
    ],
)
def test_options_no_provider_could_take_are_refused(options, field):
    assert _field(lambda: check_rich((USER,), options)) == field
