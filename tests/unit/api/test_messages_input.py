"""Anthropic Messages requests as the service's input: every field (system text and blocks,
turns of text, images, tool_use and tool_result blocks, tools, tool_choice, output_config,
stop_sequences, sampling, metadata), the plain case without options, the fields refused by
name (NOT_YET, a tool_result answering nothing, blocks in the wrong turn, anthropic-version),
and the service's field names given back in the request's terms."""

from __future__ import annotations

import base64
import json

import pytest

from completions_app.api.messages_input import (
    NOT_YET,
    anthropic_field,
    check_version,
    checked,
    messages_input,
)
from completions_app.api.messages_shapes import MESSAGES_REQUEST
from completions_app.services.chat_checks import check_rich
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

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(16)).decode()
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def _input(**body):
    data = checked({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **body},
                   MESSAGES_REQUEST)  # fmt: skip
    inp, origins = messages_input(data, cache_allowed=True)
    return inp, origins


def _refused(body: dict) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        _input(**body)
    return caught.value


def test_the_plain_case_has_no_options_and_no_parts():
    inp, _ = _input(system="be brief", temperature=0.0, top_p=0.5, stop_sequences=["END"],
                    metadata={"user_id": "u-1"})  # fmt: skip
    assert inp.plain and inp.options is None
    assert inp.messages == (Message("system", "be brief"), Message("user", "hi"))
    assert (inp.model, inp.max_tokens, inp.temperature, inp.top_p) == ("m", 10, 0.0, 0.5)
    assert inp.stop == ("END",) and inp.user == "u-1" and inp.cache is True


def test_system_blocks_and_text_blocks_are_joined_by_a_blank_line():
    inp, _ = _input(
        system=[{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
    )
    assert inp.messages == (Message("system", "one\n\ntwo"), Message("user", "a\n\nb"))
    assert inp.plain


def test_images_from_base64_and_url_sources():
    inp, _ = _input(messages=[{"role": "user", "content": [
        {"type": "text", "text": "what?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
    ]}])  # fmt: skip
    [m] = inp.messages
    assert m.content == "what?"
    assert m.parts[0] == TextPart("what?")
    assert isinstance(m.parts[1], ImagePart) and m.parts[1].media_type == "image/png" and m.parts[1].data == PNG
    assert m.parts[2] == ImagePart(url="https://example.com/a.jpg")


def test_a_tool_loop_of_blocks():
    inp, origins = _input(
        tools=[{"name": "get_weather", "description": "Weather.", "input_schema": SCHEMA, "strict": True}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        messages=[
            {"role": "user", "content": "Paris and Oslo"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Oslo"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
                 "content": [{"type": "text", "text": "no data"}]},
                {"type": "text", "text": "and tomorrow?"},
            ]},
        ],
    )  # fmt: skip
    assert inp.messages == (
        Message("user", "Paris and Oslo"),
        Message("assistant", "Looking.", tool_calls=(ToolCall("toolu_1", "get_weather", '{"city": "Paris"}'),
                                                     ToolCall("toolu_2", "get_weather", '{"city": "Oslo"}'))),
        Message("tool", "sunny", tool_call_id="toolu_1"),
        Message("tool", "Error: no data", tool_call_id="toolu_2"),
        Message("user", "and tomorrow?"),
    )  # fmt: skip
    assert inp.options == ChatOptions(
        tools=(Tool("get_weather", "Weather.", SCHEMA, True),),
        tool_choice=ToolChoice("required"),
        parallel_tool_calls=False,
    )
    check_rich(inp.messages, inp.options)  # the service's own checks pass
    assert [o.path for o in origins] == ["messages[0]", "messages[1]", "messages[2].content[0]",
                                         "messages[2].content[1]", "messages[2]"]  # fmt: skip
    assert json.loads(inp.messages[1].tool_calls[0].arguments) == {"city": "Paris"}


def test_a_tool_result_with_an_image():
    inp, _ = _input(messages=[
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "here"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}]},
    ])  # fmt: skip
    tool = inp.messages[2]
    assert tool.role == "tool" and tool.content == "here" and isinstance(tool.parts[1], ImagePart)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [({"type": "auto"}, ToolChoice("auto")), ({"type": "none"}, ToolChoice("none")),
     ({"type": "tool", "name": "get_weather"}, ToolChoice("function", "get_weather"))],
)  # fmt: skip
def test_tool_choices(choice, expected):
    inp, _ = _input(tools=[{"name": "get_weather", "input_schema": SCHEMA}], tool_choice=choice)
    assert inp.options.tool_choice == expected and inp.options.parallel_tool_calls is None


def test_output_config_is_json_output_and_effort():
    inp, _ = _input(output_config={"effort": "high", "format": {"type": "json_schema", "schema": SCHEMA}})
    assert inp.options == ChatOptions(
        response_format=ResponseFormat("json_schema", name="output", schema=SCHEMA), reasoning_effort="high"
    )


@pytest.mark.parametrize("name", sorted(NOT_YET - {"cache_control", "citations"}))
def test_fields_not_yet_carried_are_refused_by_name(name):
    error = _refused({name: {"type": "enabled"}})
    assert error.field == name and "not supported on /v1/messages yet" in error.message


EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}


def test_cache_control_stays_on_its_block_and_flags_the_options():
    use = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}, "cache_control": EPHEMERAL}
    inp, origins = _input(
        system=[{"type": "text", "text": "rules", "cache_control": HOUR}, {"type": "text", "text": "more"}],
        tools=[{"name": "f", "input_schema": SCHEMA, "cache_control": EPHEMERAL}],
        top_k=5,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": EPHEMERAL}]},
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok", "cache_control": EPHEMERAL}]},
        ],
    )  # fmt: skip
    system, user, assistant, result = inp.messages
    assert system.parts == (TextPart("rules", HOUR), TextPart("more")) and system.content == "rules\n\nmore"
    assert user.parts == (TextPart("hi", EPHEMERAL),)
    assert assistant.tool_calls[0].cache_control == EPHEMERAL
    assert result.cache_control == EPHEMERAL and result.tool_call_id == "toolu_1"
    assert inp.options.tools[0].cache_control == EPHEMERAL
    assert inp.options.anthropic_blocks is True and inp.options.top_k == 5
    # The service names these fields in its own terms; the client reads them in its own.
    assert anthropic_field("messages[0].content[0].cache_control", origins) == "system[0].cache_control"
    assert anthropic_field("messages[1].content[0].cache_control", origins) == "messages[0].content[0].cache_control"
    assert anthropic_field("messages[2].tool_calls[0].cache_control", origins) == "messages[1].content[0].cache_control"
    assert anthropic_field("messages[3].cache_control", origins) == "messages[2].content[0].cache_control"


def test_without_cache_control_nothing_changes():
    inp, _ = _input(system=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    assert inp.plain and inp.messages[0] == Message("system", "a\n\nb")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": []}]}, "messages[0].content"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"type": "document"}]}]}, "messages[0].content[0].source"),
        ({"messages": [{"role": "user", "content": [{"type": "search_result"}]}]}, "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "text", "data": "x"},
                                                      "citations": {"enabled": True}}]}]},
         "messages[0].content[0].citations"),
        ({"messages": [{"role": "assistant", "content": [{"type": "document", "source": {"type": "text"}}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]}]},
         "messages[0].content[0].tool_use_id"),
        ({"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "x", "name": "f", "input": {}}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "x"}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "not base64!"}}]}]},
         "messages[0].content[0].source.data"),
        ({"tools": [{"name": "web_search", "type": "web_search_20250305"}]}, "tools[0].type"),
        ({"tools": [{"name": "f", "input_schema": SCHEMA}], "tool_choice": {"type": "tool"}}, "tool_choice.name"),
        ({"temperature": 1.5}, "temperature"),
        ({"unknown": 1}, "unknown"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(body, field):
    assert _refused(body).field == field


@pytest.mark.parametrize("version", ["2023-06-01", "2024-10-22", None])
def test_a_version_date_or_none_is_accepted(version):
    check_version({} if version is None else {"anthropic-version": version})


@pytest.mark.parametrize("version", ["latest", "2023-6-1", "", "2023-06-01; x"])
def test_another_version_is_refused(version):
    with pytest.raises(InvalidRequest) as caught:
        check_version({"anthropic-version": version})
    assert caught.value.field == "anthropic-version"


def test_the_services_field_names_in_the_requests_terms():
    _inp, origins = _input(
        system="s",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "a"},
                                         {"type": "image", "source": {"type": "url", "url": "http://x/a.png"}}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]},
        ],
    )  # fmt: skip
    assert anthropic_field("messages[0].role", origins) == "system"
    assert anthropic_field("messages[1].content[1].image_url.url", origins) == "messages[0].content[1]"
    assert anthropic_field("messages[2].tool_calls[0].function.name", origins) == "messages[1].content[0]"
    assert anthropic_field("messages[3].tool_call_id", origins) == "messages[2].content[0].tool_use_id"
    assert anthropic_field("messages[9].name", origins) == "messages[9].name"
    assert anthropic_field("tools[2].function.parameters", origins) == "tools[2].input_schema"
    assert anthropic_field("tools[2].function.name", origins) == "tools[2].name"
    assert anthropic_field("parallel_tool_calls", origins) == "tool_choice.disable_parallel_tool_use"
    assert anthropic_field("response_format.json_schema.schema", origins) == "output_config.format"
    assert anthropic_field("stop", origins) == "stop_sequences"
    assert anthropic_field("user", origins) == "metadata.user_id"
    assert anthropic_field("tool_choice", origins) == "tool_choice"
