"""Request bodies of /v1/chat/completions and /v1/complete as the service's input: every
field of the Chat Completions surface parsed into Message / ChatOptions, a plain request
still without options, and bad input refused naming the field (through the route's own
parser, parsing.parse_body)."""

from __future__ import annotations

import base64
import json

import pytest

from completions_app.api.declarations import CHAT_REQUEST, COMPLETE_REQUEST
from completions_app.api.fast_routes import LiteRequest
from completions_app.api.native import native_input
from completions_app.api.openai_compat import openai_input
from completions_app.api.parsing import parse_body
from providers_app.adapters.types import (
    ChatOptions,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from providers_app.errors import InvalidRequest

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n fake").decode()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": True,
    },
}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}


def _chat(body: dict):
    full = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}
    request = LiteRequest({"content-type": "application/json"}, json.dumps(full).encode())
    inp, _stream, _usage = openai_input(parse_body(request, CHAT_REQUEST), cache_allowed=True)
    return inp


def _native(body: dict):
    full = {"model": "m", **body}
    request = LiteRequest({"content-type": "application/json"}, json.dumps(full).encode())
    inp, _stream = native_input(parse_body(request, COMPLETE_REQUEST), cache_allowed=True)
    return inp


def _refused(parse, body: dict) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse(body)
    return caught.value


# --- the plain path -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "defaults",
    [{}, {"n": 1, "logprobs": False, "presence_penalty": 0, "frequency_penalty": 0.0,
          "response_format": {"type": "text"}, "tools": [], "logit_bias": {}, "metadata": {}}],
    ids=["nothing", "every default"],
)  # fmt: skip
def test_a_text_request_has_no_options_even_with_every_default_spelled_out(defaults):
    inp = _chat({"messages": [{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}],
                 **defaults})  # fmt: skip
    assert inp.options is None and inp.plain
    assert inp.messages == (Message("system", "be brief"), Message("user", "hi"))
    assert _native({"prompt": "hi", "response_format": {"type": "text"}}).options is None


def test_text_parts_are_joined_and_stay_plain():
    inp = _chat(
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "a "}, {"type": "text", "text": "b"}]}]}
    )
    assert inp.messages == (Message("user", "a b"),) and inp.plain


# --- every option ----------------------------------------------------------------------------------
def test_every_option_reaches_chat_options():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    inp = _chat({
        "tools": [WEATHER, {"type": "function", "function": {"name": "noop"}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "out", "schema": schema, "strict": True, "description": "d"}},
        "seed": 7, "presence_penalty": 0.5, "frequency_penalty": -1, "logit_bias": {"50256": -100, "11": 5},
        "n": 3, "logprobs": True, "top_logprobs": 2, "metadata": {"team": "a"}, "reasoning_effort": "low",
        "max_completion_tokens": 99, "max_tokens": 5, "user": "u1",
    })  # fmt: skip
    assert inp.options == ChatOptions(
        tools=(
            Tool("get_weather", "Weather in a city.", WEATHER["function"]["parameters"], True),
            Tool("noop"),
        ),
        tool_choice=ToolChoice("function", "get_weather"),
        parallel_tool_calls=False,
        response_format=ResponseFormat("json_schema", name="out", schema=schema, strict=True, description="d"),
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=-1.0,
        logit_bias={"50256": -100.0, "11": 5.0},
        n=3,
        logprobs=True,
        top_logprobs=2,
        metadata={"team": "a"},
        reasoning_effort="low",
    )
    assert (inp.max_tokens, inp.user) == (99, "u1")


@pytest.mark.parametrize(
    ("body", "options"),
    [
        ({"tool_choice": "none"}, ChatOptions(tool_choice=ToolChoice("none"))),
        ({"tools": [WEATHER], "tool_choice": "required"},
         ChatOptions(tools=(Tool("get_weather", "Weather in a city.", WEATHER["function"]["parameters"], True),),
                     tool_choice=ToolChoice("required"))),
        ({"response_format": {"type": "json_object"}}, ChatOptions(response_format=ResponseFormat("json_object"))),
        ({"seed": 0}, ChatOptions(seed=0)),
        ({"n": 2, "logprobs": False}, ChatOptions(n=2)),
    ],
    ids=["tool_choice none", "required", "json_object", "seed 0", "n"],
)  # fmt: skip
def test_one_option_alone(body, options):
    assert _chat(body).options == options


def test_native_takes_tools_response_format_seed_and_rich_messages():
    inp = _native({
        "messages": [{"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                                  {"type": "image_url", "image_url": {"url": PNG}}]}],
        "tools": [WEATHER], "tool_choice": "auto", "parallel_tool_calls": True,
        "response_format": {"type": "json_object"}, "seed": 1,
    })  # fmt: skip
    assert inp.options is not None
    assert (inp.options.tool_choice, inp.options.parallel_tool_calls, inp.options.seed) == (ToolChoice("auto"), True, 1)
    assert isinstance(inp.messages[0].parts[1], ImagePart)


@pytest.mark.parametrize("field", ["n", "logprobs", "logit_bias", "top_logprobs", "metadata", "presence_penalty"])
def test_openai_only_fields_are_not_native(field):
    value = {"n": 2, "logprobs": True, "logit_bias": {"1": 1}, "top_logprobs": 1, "metadata": {"a": "b"},
             "presence_penalty": 1}[field]  # fmt: skip
    assert _refused(_native, {"prompt": "hi", field: value}).field == field


# --- messages --------------------------------------------------------------------------------------
def test_a_tool_loop_conversation():
    inp = _chat({"tools": [WEATHER], "messages": [
        {"role": "system", "content": "s", "name": "rules"},
        {"role": "user", "content": "weather in Oslo?", "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "sunny"}]},
        {"role": "assistant", "refusal": "I cannot."},
    ]})  # fmt: skip
    assert inp.messages == (
        Message("system", "s", name="rules"),
        Message("user", "weather in Oslo?", name="ann"),
        Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Oslo"}'),)),
        Message("tool", "sunny", tool_call_id="call_1"),
        Message("assistant", "I cannot."),
    )
    assert not inp.plain


def test_image_parts_keep_every_part_in_order():
    inp = _chat({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "compare "},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "text", "text": "with"},
        {"type": "image_url", "image_url": {"url": PNG}},
    ]}]})  # fmt: skip
    [m] = inp.messages
    assert m.content == "compare with"
    assert m.parts[0] == TextPart("compare ") and m.parts[2] == TextPart("with")
    assert m.parts[1] == ImagePart(url="https://example.com/a.png", detail="low")
    image = m.parts[3]
    assert isinstance(image, ImagePart) and (image.media_type, image.data) == ("image/png", PNG.split(",", 1)[1])
    assert inp.options is None and not inp.plain


# --- refused, naming the field ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [{"role": "assistant"}]}, "messages[0].content"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "r"}]}, "messages[1].tool_call_id"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}]},
         "messages[0].content[0].image_url"),  # a system message takes text parts only
        ({"messages": [{"role": "user", "content": "x", "cache_control": {"type": "ephemeral"}}]},
         "messages[0].cache_control"),  # refused by name, never ignored
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {}}]}]},
         "messages[0].content[0].cache_control"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "x"},
                                                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}}]}]},
         "messages[0].content[1].image_url.url"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGk="}}]}]},
         "messages[0].content[0].image_url.url"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}]},
         "messages[0].content[0].image_url.url"),
        ({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "function": {}}]}]},
         "messages[0].tool_calls[0].type"),
        ({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f"}}]}]},
         "messages[0].tool_calls[0].function.arguments"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]},
         "tools[0].function.parameters.type"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]}, "tools[0].function.parameters"),
        ({"tools": [{"type": "function", "function": {"name": "f", "extra": 1}}]}, "tools[0].function.extra"),
        ({"tools": [{"type": "custom", "function": {"name": "f"}}]}, "tools[0].type"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": {"type": "allowed_tools"}}, "tool_choice.type"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format.json_schema.schema"),
        ({"n": 17}, "n"), ({"n": 0}, "n"), ({"top_logprobs": 21}, "top_logprobs"),
        ({"presence_penalty": 2.5}, "presence_penalty"), ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"logit_bias": {"50256": 101}}, "logit_bias.50256"), ({"logit_bias": {"hello": 1}}, "logit_bias.hello"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"), ({"metadata": {"k": "v" * 513}}, "metadata.k"),
        ({"metadata": {"k" * 65: "v"}}, "metadata." + "k" * 64), ({"metadata": {"k": 1}}, "metadata.k"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"), ({"seed": 2**63}, "seed"),
        ({"seed": 1.5}, "seed"), ({"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ],
)  # fmt: skip
def test_bad_fields_are_refused_by_name(body, field):
    assert _refused(_chat, body).field == field
