"""Service results -> proto: choice 0's text, tool calls, refusal and finish reason; stream
pieces with tool-call deltas; errors naming the field at fault by its proto name."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aiproxy.v1 import proxy_pb2 as pb
from completions_app.grpc.errors import status_message
from completions_app.grpc.grpc_input import proto_field_named
from completions_app.grpc.grpc_render import complete_response, stream_delta
from completions_app.services.types import CompletionResult, StreamDelta
from providers_app.adapters.types import Choice, ToolCall, ToolCallDelta, Usage
from providers_app.errors import InvalidRequest


def result(choice: Choice) -> CompletionResult:
    return CompletionResult(
        request_id="r1",
        model="m",
        served_model="m",
        provider="p",
        choices=[choice],
        usage=Usage(input_tokens=3, output_tokens=4),
        cost_usd=Decimal("0.000001"),
        cached=False,
        latency_ms=1.5,
    )


def test_a_text_answer_has_no_tool_calls_and_no_refusal() -> None:
    response = complete_response(result(Choice(text="hello", finish_reason="stop")))
    assert (response.text, response.finish_reason, response.refusal) == ("hello", "stop", "")
    assert len(response.tool_calls) == 0
    assert response.usage.output_tokens == 4 and response.cost_usd == "0.000001"


def test_tool_calls_and_refusal_are_rendered() -> None:
    calls = (ToolCall("call_1", "weather", '{"city": "Paris"}'), ToolCall("call_2", "clock", "{}"))
    response = complete_response(result(Choice(text="", finish_reason="tool_calls", tool_calls=calls)))
    assert response.finish_reason == "tool_calls"
    assert list(response.tool_calls) == [
        pb.ToolCall(id="call_1", name="weather", arguments_json='{"city": "Paris"}'),
        pb.ToolCall(id="call_2", name="clock", arguments_json="{}"),
    ]
    refused = complete_response(result(Choice(finish_reason="stop", refusal="I can't help with that.")))
    assert refused.refusal == "I can't help with that." and refused.text == ""


def test_stream_pieces() -> None:
    assert stream_delta(StreamDelta("abc")) == pb.StreamCompleteResponse(delta="abc")
    assert stream_delta(StreamDelta("")) is None  # nothing to send
    first = stream_delta(StreamDelta("", tool_calls=(ToolCallDelta(0, id="call_1", name="weather", arguments='{"ci'),)))
    assert first is not None and list(first.tool_calls) == [
        pb.ToolCallDelta(index=0, id="call_1", name="weather", arguments_fragment='{"ci')
    ]
    later = stream_delta(StreamDelta("", tool_calls=(ToolCallDelta(1, arguments='ty"}'),)))
    assert later is not None and list(later.tool_calls) == [pb.ToolCallDelta(index=1, arguments_fragment='ty"}')]
    assert stream_delta(StreamDelta("", refusal="I can't")) == pb.StreamCompleteResponse(refusal="I can't")
    assert stream_delta(StreamDelta("other choice", index=1)) is None


def test_the_status_message_names_the_field() -> None:
    exc = InvalidRequest("The image data URL is not valid base64.", field="messages[0].parts[1].image_url.url")
    assert status_message(exc) == "messages[0].parts[1].image_url.url: The image data URL is not valid base64."
    already = InvalidRequest("tool_choice names 'x', which is not in tools.", field="tool_choice")
    assert status_message(already) == already.message
    assert status_message(InvalidRequest("No field.")) == "No field."


@pytest.mark.parametrize(
    ("rest", "proto"),
    [
        ("tools[0].function.parameters", "tools[0].parameters_json"),
        ("tools[2].function.name", "tools[2].name"),
        ("messages[1].tool_calls[0].function.name", "messages[1].tool_calls[0].name"),
        ("messages[1].tool_calls[0].function.arguments", "messages[1].tool_calls[0].arguments_json"),
        ("messages[3].content[1].image_url.url", "messages[3].parts[1].image_url.url"),
        ("response_format.json_schema.schema", "response_format.schema_json"),
        ("response_format.json_schema.name", "response_format.name"),
        ("tool_choice", "tool_choice"),
        ("messages[2].tool_call_id", "messages[2].tool_call_id"),
    ],
)
def test_errors_name_fields_as_the_proto_does(rest: str, proto: str) -> None:
    exc = proto_field_named(InvalidRequest(f"{rest} must be right.", field=rest))
    assert isinstance(exc, InvalidRequest)
    assert exc.field == proto
    assert exc.message == f"{proto} must be right."
