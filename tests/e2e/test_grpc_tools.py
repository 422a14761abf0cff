"""gRPC with tools, tool results, JSON output and images, end to end: the `serve` process,
the generated stubs, the fake upstream process (tests/fakes) behind the `openai` kind.

Bad input is refused with INVALID_ARGUMENT naming the field and reaches no upstream.
The answers (tool calls, streamed tool-call deltas, JSON, images) need the openai
adapter's translation of ChatOptions and the openai fake's tool calls (issue 13, item 2):
see NEEDS_THE_OPENAI_ADAPTER below.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import grpc
import pytest

from aiproxy.v1 import proxy_pb2 as pb
from aiproxy.v1 import proxy_pb2_grpc

from .gateway_process import CLIENT_KEY

AUTH = (("authorization", f"Bearer {CLIENT_KEY}"),)
MODEL = "gpt-4o-mini"  # the `openai` kind provider "oa" of fake_config
WEATHER = pb.Tool(
    name="weather",
    description="The weather in a city now.",
    parameters_json=json.dumps({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
)
PNG_URL = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n tiny").decode()


@pytest.fixture
def stub(gateway) -> Iterator[proxy_pb2_grpc.AIProxyServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        yield proxy_pb2_grpc.AIProxyServiceStub(channel)


def completions_asked(fake) -> list[dict]:
    """The completion requests the upstream received (not the gateway's model probes)."""
    return [r for r in fake.requests() if r["method"] == "POST"]


# --- refused before any upstream -------------------------------------------------------------
BAD = {
    "tool_choice naming an undeclared tool": (
        pb.CompleteRequest(model=MODEL, prompt="hi", tools=[WEATHER], tool_choice=pb.ToolChoice(name="send_email")),
        "tool_choice",
    ),
    "a tool message answering no earlier call": (
        pb.CompleteRequest(
            model=MODEL,
            messages=[
                pb.Message(role="user", content="weather in Paris?"),
                pb.Message(role="assistant", tool_calls=[pb.ToolCall(id="call_1", name="weather")]),
                pb.Message(role="tool", tool_call_id="call_9", content="sunny"),
            ],
            tools=[WEATHER],
        ),
        "messages[2].tool_call_id",
    ),
    "a tool message without tool_call_id": (
        pb.CompleteRequest(model=MODEL, messages=[pb.Message(role="tool", content="sunny")]),
        "messages[0].tool_call_id",
    ),
    "an image data URL that is not base64": (
        pb.CompleteRequest(
            model=MODEL,
            messages=[
                pb.Message(
                    role="user",
                    parts=[
                        pb.ContentPart(text="what is this?"),
                        pb.ContentPart(image_url=pb.ImageUrl(url="data:image/png;base64,not base64!")),
                    ],
                )
            ],
        ),
        "messages[0].parts[1].image_url.url",
    ),
    "an image data URL of another type": (
        pb.CompleteRequest(
            model=MODEL,
            messages=[
                pb.Message(role="user", parts=[pb.ContentPart(image_url=pb.ImageUrl(url="data:text/html;base64,PGI+"))])
            ],
        ),
        "messages[0].parts[0].image_url.url",
    ),
    "a tool schema that is not JSON": (
        pb.CompleteRequest(model=MODEL, prompt="hi", tools=[pb.Tool(name="weather", parameters_json="{city}")]),
        "tools[0].parameters_json",
    ),
    "a tool schema of another type than object": (
        pb.CompleteRequest(
            model=MODEL, prompt="hi", tools=[pb.Tool(name="weather", parameters_json='{"type": "string"}')]
        ),
        "tools[0].parameters_json",  # the service's check, its REST name made the proto's
    ),
    "a json_schema whose name is not a name": (
        pb.CompleteRequest(
            model=MODEL,
            prompt="hi",
            response_format=pb.ResponseFormat(
                type=pb.ResponseFormat.TYPE_JSON_SCHEMA, name="a summary!", schema_json='{"type": "object"}'
            ),
        ),
        "response_format.name",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
@pytest.mark.parametrize("rpc", ["Complete", "StreamComplete"])
def test_bad_input_is_refused_naming_the_field_and_reaches_no_upstream(stub, fake, case: str, rpc: str) -> None:
    request, field = BAD[case]
    with pytest.raises(grpc.RpcError) as info:
        if rpc == "Complete":
            stub.Complete(request, metadata=AUTH, timeout=10)
        else:
            list(stub.StreamComplete(request, metadata=AUTH, timeout=10))
    error = info.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert field in error.details()
    trailers = dict(error.trailing_metadata())
    assert trailers["x-error-field"] == field
    assert trailers["x-error-type"] == "invalid_request_error"
    assert completions_asked(fake) == []


# --- answers ---------------------------------------------------------------------------------
# NEEDS_THE_OPENAI_ADAPTER: the tests below need the openai adapter to send ChatOptions and
# tool turns upstream and read tool calls back, and the openai fake to answer them (the
# `oa` helper's branch, issue 13 item 2). They fail on the gRPC branch alone, by design.


def test_a_tool_loop_call_then_result_then_answer(stub, fake) -> None:
    first = stub.Complete(
        pb.CompleteRequest(model=MODEL, prompt="weather in Paris", tools=[WEATHER], cache=False),
        metadata=AUTH,
        timeout=10,
    )
    assert first.finish_reason == "tool_calls"
    [call] = first.tool_calls
    assert call.name == "weather" and call.id
    assert json.loads(call.arguments_json) == {"city": "weather in Paris"}  # the fake: the user's words
    sent = completions_asked(fake)[-1]["json"]
    assert [t["function"]["name"] for t in sent["tools"]] == ["weather"]

    second = stub.Complete(
        pb.CompleteRequest(
            model=MODEL,
            messages=[
                pb.Message(role="user", content="weather in Paris"),
                pb.Message(role="assistant", tool_calls=[call]),
                pb.Message(role="tool", tool_call_id=call.id, content="sunny"),
            ],
            tools=[WEATHER],
            cache=False,
        ),
        metadata=AUTH,
        timeout=10,
    )
    assert second.finish_reason == "stop"
    assert second.text == "tools said: sunny"
    assert len(second.tool_calls) == 0
    turns = completions_asked(fake)[-1]["json"]["messages"]
    assert turns[1]["tool_calls"][0]["id"] == call.id
    assert turns[2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny"}


def test_a_streamed_tool_call_arrives_in_deltas(stub, fake) -> None:
    messages = list(
        stub.StreamComplete(
            pb.CompleteRequest(
                model=MODEL,
                prompt="weather in Rome",
                tools=[WEATHER],
                tool_choice=pb.ToolChoice(mode=pb.ToolChoice.MODE_REQUIRED),
                cache=False,
            ),
            metadata=AUTH,
            timeout=10,
        )
    )
    *pieces, final = messages
    assert final.done and final.finish_reason == "tool_calls"
    deltas = [d for m in pieces for d in m.tool_calls]
    assert len(deltas) > 1  # the arguments arrive in fragments
    assert {d.index for d in deltas} == {0}
    assert deltas[0].id and deltas[0].name == "weather"
    assert all(not d.id and not d.name for d in deltas[1:])
    arguments = "".join(d.arguments_fragment for d in deltas)
    assert json.loads(arguments) == {"city": "weather in Rome"}


def test_a_json_schema_answer(stub, fake) -> None:
    schema = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}
    response = stub.Complete(
        pb.CompleteRequest(
            model=MODEL,
            prompt="short and sweet",
            response_format=pb.ResponseFormat(
                type=pb.ResponseFormat.TYPE_JSON_SCHEMA, name="summary", schema_json=json.dumps(schema), strict=True
            ),
            cache=False,
        ),
        metadata=AUTH,
        timeout=10,
    )
    assert json.loads(response.text) == {"summary": "short and sweet"}
    sent = completions_asked(fake)[-1]["json"]["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "summary", "schema": schema, "strict": True}}


def test_an_image_part_reaches_the_upstream(stub, fake) -> None:
    response = stub.Complete(
        pb.CompleteRequest(
            model=MODEL,
            messages=[
                pb.Message(
                    role="user",
                    parts=[
                        pb.ContentPart(text="what is this"),
                        pb.ContentPart(image_url=pb.ImageUrl(url=PNG_URL, detail="low")),
                    ],
                )
            ],
            cache=False,
        ),
        metadata=AUTH,
        timeout=10,
    )
    assert response.text == "images=1 what is this"  # the fake counts the images it was sent
    [content] = [m["content"] for m in completions_asked(fake)[-1]["json"]["messages"]]
    assert content[1] == {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "low"}}
