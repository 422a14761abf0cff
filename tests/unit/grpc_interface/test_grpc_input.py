"""CompleteRequest (proto) -> CompletionInput: every field, the plain path, and the refusals
the proto shape itself leaves to the interface (the service's own checks: test_completion)."""

from __future__ import annotations

import base64
import json

import pytest

from aiproxy.v1 import proxy_pb2 as pb
from completions_app.grpc.grpc_input import completion_input_from
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

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image bytes").decode()
PNG_URL = f"data:image/png;base64,{PNG}"
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def request(**fields: object) -> pb.CompleteRequest:
    fields.setdefault("model", "m")
    if "messages" not in fields and "prompt" not in fields:
        fields["messages"] = [pb.Message(role="user", content="hi")]
    return pb.CompleteRequest(**fields)


def refused(req: pb.CompleteRequest) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        completion_input_from(req)
    return info.value


# --- the plain path -----------------------------------------------------------------------
def test_a_plain_request_has_no_options_and_plain_messages() -> None:
    inp = completion_input_from(
        request(
            messages=[pb.Message(role="system", content="be brief"), pb.Message(role="user", content="hi")],
            max_tokens=5,
            temperature=0.0,
            stop=["x"],
        )
    )
    assert inp.options is None
    assert inp.plain
    assert inp.messages == (Message("system", "be brief"), Message("user", "hi"))
    assert (inp.max_tokens, inp.temperature, inp.top_p, inp.stop, inp.cache) == (5, 0.0, None, ("x",), True)


def test_a_prompt_is_one_plain_user_message() -> None:
    inp = completion_input_from(request(prompt="hello"))
    assert inp.messages == (Message("user", "hello"),)
    assert inp.options is None


def test_text_only_parts_are_plain_content_joined() -> None:
    inp = completion_input_from(
        request(messages=[pb.Message(role="user", parts=[pb.ContentPart(text="a "), pb.ContentPart(text="b")])])
    )
    assert inp.messages == (Message("user", "a b"),)
    assert inp.plain


# --- messages --------------------------------------------------------------------------------
def test_image_parts_keep_every_part_in_order() -> None:
    inp = completion_input_from(
        request(
            messages=[
                pb.Message(
                    role="user",
                    parts=[
                        pb.ContentPart(text="what is "),
                        pb.ContentPart(image_url=pb.ImageUrl(url=PNG_URL, detail="low")),
                        pb.ContentPart(text="this?"),
                        pb.ContentPart(image_url=pb.ImageUrl(url="https://example.com/cat.jpg")),
                    ],
                )
            ]
        )
    )
    [m] = inp.messages
    assert m.content == "what is this?"
    assert m.parts == (
        TextPart("what is "),
        ImagePart(url=PNG_URL, media_type="image/png", data=PNG, detail="low"),
        TextPart("this?"),
        ImagePart(url="https://example.com/cat.jpg"),
    )
    assert not inp.plain
    assert inp.options is None  # images alone ask for no option


def test_a_tool_loop_conversation() -> None:
    inp = completion_input_from(
        request(
            messages=[
                pb.Message(role="user", content="weather in Paris?", name="alice"),
                pb.Message(
                    role="assistant",
                    tool_calls=[
                        pb.ToolCall(id="call_1", name="weather", arguments_json='{"city": "Paris"}'),
                        pb.ToolCall(id="call_2", name="clock"),  # no arguments: "{}"
                    ],
                ),
                pb.Message(role="tool", tool_call_id="call_1", content="sunny"),
                pb.Message(role="tool", tool_call_id="call_2", content="noon"),
            ]
        )
    )
    assert inp.messages == (
        Message("user", "weather in Paris?", name="alice"),
        Message(
            "assistant",
            "",
            tool_calls=(ToolCall("call_1", "weather", '{"city": "Paris"}'), ToolCall("call_2", "clock", "{}")),
        ),
        Message("tool", "sunny", tool_call_id="call_1"),
        Message("tool", "noon", tool_call_id="call_2"),
    )
    assert not inp.plain


# --- options -----------------------------------------------------------------------------------
def test_every_option_reaches_chat_options() -> None:
    inp = completion_input_from(
        request(
            tools=[
                pb.Tool(name="weather", description="Weather now", parameters_json=json.dumps(WEATHER_SCHEMA)),
                pb.Tool(name="clock", strict=False),
            ],
            tool_choice=pb.ToolChoice(mode=pb.ToolChoice.MODE_FUNCTION, name="weather"),
            parallel_tool_calls=False,
            response_format=pb.ResponseFormat(
                type=pb.ResponseFormat.TYPE_JSON_SCHEMA,
                name="forecast",
                schema_json=json.dumps(WEATHER_SCHEMA),
                strict=True,
                description="A forecast",
            ),
            seed=0,
            presence_penalty=0.25,
            frequency_penalty=-1.5,
        )
    )
    assert inp.options == ChatOptions(
        tools=(
            Tool(name="weather", description="Weather now", parameters=WEATHER_SCHEMA),
            Tool(name="clock", strict=False),
        ),
        tool_choice=ToolChoice("function", "weather"),
        parallel_tool_calls=False,
        response_format=ResponseFormat(
            "json_schema", name="forecast", schema=WEATHER_SCHEMA, strict=True, description="A forecast"
        ),
        seed=0,  # set to zero: given, not "unset"
        presence_penalty=0.25,
        frequency_penalty=-1.5,
    )


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (pb.ToolChoice(mode=pb.ToolChoice.MODE_AUTO), ToolChoice("auto")),
        (pb.ToolChoice(mode=pb.ToolChoice.MODE_NONE), ToolChoice("none")),
        (pb.ToolChoice(mode=pb.ToolChoice.MODE_REQUIRED), ToolChoice("required")),
        (pb.ToolChoice(name="weather"), ToolChoice("function", "weather")),  # a name alone: that function
    ],
)
def test_tool_choice_modes(choice: pb.ToolChoice, expected: ToolChoice) -> None:
    inp = completion_input_from(request(tools=[pb.Tool(name="weather")], tool_choice=choice))
    assert inp.options is not None and inp.options.tool_choice == expected


def test_response_format_json_object() -> None:
    inp = completion_input_from(request(response_format=pb.ResponseFormat(type=pb.ResponseFormat.TYPE_JSON_OBJECT)))
    assert inp.options == ChatOptions(response_format=ResponseFormat("json_object"))


def test_spelled_out_defaults_are_a_plain_request() -> None:
    # As on REST: TYPE_TEXT and zero penalties are the defaults, not options (same cache key).
    text = pb.ResponseFormat(type=pb.ResponseFormat.TYPE_TEXT)
    inp = completion_input_from(request(response_format=text, presence_penalty=0.0, frequency_penalty=0.0))
    assert inp.options is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("seed", 7), ("presence_penalty", 0.5), ("frequency_penalty", -0.5), ("parallel_tool_calls", True)],
)
def test_one_optional_field_alone_gives_options(field: str, value: object) -> None:
    inp = completion_input_from(request(**{field: value}))
    assert inp.options is not None and getattr(inp.options, field) == value
    assert inp.options.fields_set() == [field]


# --- refusals, each naming its field -------------------------------------------------------------
@pytest.mark.parametrize(
    ("req", "field"),
    [
        (request(tools=[pb.Tool(name="t", parameters_json="{not json")]), "tools[0].parameters_json"),
        (request(tools=[pb.Tool(name="t", parameters_json='["a"]')]), "tools[0].parameters_json"),
        (request(tools=[pb.Tool(name="t", parameters_json="NaN")]), "tools[0].parameters_json"),
        (
            request(
                response_format=pb.ResponseFormat(type=pb.ResponseFormat.TYPE_JSON_SCHEMA, name="x", schema_json="{")
            ),
            "response_format.schema_json",
        ),
        (
            request(
                response_format=pb.ResponseFormat(
                    type=pb.ResponseFormat.TYPE_JSON_SCHEMA, name="x", schema_json='"object"'
                )
            ),
            "response_format.schema_json",
        ),
        (
            request(response_format=pb.ResponseFormat(type=pb.ResponseFormat.TYPE_JSON_SCHEMA, name="x")),
            "response_format.schema_json",
        ),
        (request(response_format=pb.ResponseFormat()), "response_format.type"),
        (
            request(response_format=pb.ResponseFormat(type=pb.ResponseFormat.TYPE_JSON_OBJECT, schema_json="{}")),
            "response_format.schema_json",
        ),
        (
            request(response_format=pb.ResponseFormat(type=pb.ResponseFormat.TYPE_TEXT, strict=False)),
            "response_format.strict",
        ),
        (
            request(
                messages=[
                    pb.Message(role="assistant", tool_calls=[pb.ToolCall(id="c", name="t", arguments_json="{'a': 1}")])
                ]
            ),
            "messages[0].tool_calls[0].arguments_json",
        ),
        (request(tools=[pb.Tool(name="t")], tool_choice=pb.ToolChoice()), "tool_choice.mode"),
        (request(tools=[pb.Tool(name="t")], tool_choice=pb.ToolChoice(mode=99)), "tool_choice.mode"),
        (
            request(tools=[pb.Tool(name="t")], tool_choice=pb.ToolChoice(mode=pb.ToolChoice.MODE_FUNCTION)),
            "tool_choice.name",
        ),
        (
            request(tools=[pb.Tool(name="t")], tool_choice=pb.ToolChoice(mode=pb.ToolChoice.MODE_AUTO, name="t")),
            "tool_choice.name",
        ),
        (request(presence_penalty=2.5), "presence_penalty"),
        (request(frequency_penalty=float("nan")), "frequency_penalty"),
        (request(messages=[pb.Message(role="robot", content="x")]), "messages[0].role"),
        (request(messages=[pb.Message(role="tool", content="sunny")]), "messages[0].tool_call_id"),
        (
            request(messages=[pb.Message(role="user", content="x", parts=[pb.ContentPart(text="y")])]),
            "messages[0].parts",
        ),
        (request(messages=[pb.Message(role="user", parts=[pb.ContentPart()])]), "messages[0].parts[0]"),
        (
            request(
                messages=[
                    pb.Message(
                        role="user", parts=[pb.ContentPart(image_url=pb.ImageUrl(url="data:image/png;base64,@@"))]
                    )
                ]
            ),
            "messages[0].parts[0].image_url.url",
        ),
        (
            request(
                messages=[
                    pb.Message(
                        role="user", parts=[pb.ContentPart(image_url=pb.ImageUrl(url="data:text/plain;base64,aGk="))]
                    )
                ]
            ),
            "messages[0].parts[0].image_url.url",
        ),
        (request(model=""), "model"),
        (request(prompt="a", messages=[pb.Message(role="user", content="b")]), "messages"),
    ],
)
def test_refused_naming_the_field(req: pb.CompleteRequest, field: str) -> None:
    assert refused(req).field == field
