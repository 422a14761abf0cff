"""Tools, JSON output, images and `n` end to end: the official openai SDK against the gateway
process, every provider kind behind it (the fakes answer in each provider's own wire format:
a tool call when tools are offered, the tools' results once they are sent back, JSON when
JSON is asked for, and "images=N ..." for the images they received)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import openai
import pytest

from .gateway_process import CLIENT_KEY

MODELS = ["gpt-4o-mini", "claude-3-5-haiku", "llama3"]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(32)).decode()


def _sdk(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=CLIENT_KEY, max_retries=0)


def _record(gateway, request_id: str) -> dict[str, Any]:
    for _ in range(50):  # records are written in batches off the request path
        rows = [r for r in gateway.records() if r["request_id"] == request_id]
        if rows:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError(f"no record for {request_id}")


def _streamed(stream) -> tuple[str, list[dict[str, str]], str | None]:
    """(text, tool calls, finish_reason) folded from chunks as a client does it."""
    text, calls, finish = [], {}, None
    for chunk in stream:
        for choice in chunk.choices:
            delta = choice.delta
            text.append(delta.content or "")
            for d in delta.tool_calls or ():
                call = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = call["id"] or (d.id or "")
                if d.function is not None:
                    call["name"] = call["name"] or (d.function.name or "")
                    call["arguments"] += d.function.arguments or ""
            finish = choice.finish_reason or finish
    return "".join(text), [calls[i] for i in sorted(calls)], finish


@pytest.mark.parametrize("model", MODELS)
def test_a_two_turn_tool_loop(gateway, fake, model):
    client = _sdk(gateway)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Paris"}]
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, tools=[WEATHER])
    first = raw.parse()
    [call] = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert _record(gateway, raw.headers["x-request-id"])["finish_reason"] == "tool_calls"

    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny 21C"})
    second = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "tools said: sunny 21C"


@pytest.mark.parametrize("model", MODELS)
def test_a_two_turn_tool_loop_streamed(gateway, fake, model):
    client = _sdk(gateway)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Oslo"}]
    text, [call], finish = _streamed(
        client.chat.completions.create(model=model, messages=messages, tools=[WEATHER], stream=True)
    )
    assert (text, finish, call["name"]) == ("", "tool_calls", "get_weather")
    assert json.loads(call["arguments"]) == {"city": "Oslo"}

    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call["id"], "content": "rain"})
    text, calls, finish = _streamed(
        client.chat.completions.create(model=model, messages=messages, tools=[WEATHER], stream=True)
    )
    assert (text, calls, finish) == ("tools said: rain", [], "stop")


@pytest.mark.parametrize("model", MODELS)
def test_json_schema_output(gateway, fake, model):
    answer = _sdk(gateway).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Lima"}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "city",
                "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            },
        },
    )
    assert json.loads(answer.choices[0].message.content) == {"name": "Lima"}


@pytest.mark.parametrize("model", MODELS)
def test_an_image_part_reaches_the_provider(gateway, fake, model):
    answer = _sdk(gateway).chat.completions.create(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )
    assert answer.choices[0].message.content == "images=1 what is this"


def test_n_2_on_the_openai_kind(gateway, fake):
    answer = _sdk(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "two of them"}], n=2
    )
    assert [c.index for c in answer.choices] == [0, 1]
    assert {c.message.content for c in answer.choices} == {"two of them"}


def test_a_field_the_kind_cannot_honour_is_refused_by_name_before_any_upstream(gateway, fake):
    with pytest.raises(openai.BadRequestError) as info:
        _sdk(gateway).chat.completions.create(
            model="claude-3-5-haiku", messages=[{"role": "user", "content": "x"}], n=2
        )
    error = info.value.body
    assert error["param"] == "n" and "anthropic" in error["message"]
    assert [r for r in fake.requests() if not r["path"].startswith("/_fake")] == []


def test_a_cached_tool_call_replays_with_the_original_usage(gateway, fake):
    client = _sdk(gateway)
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Rome cached"}], "tools": [WEATHER]}
    first = client.chat.completions.with_raw_response.create(**ask, temperature=0)
    again = client.chat.completions.with_raw_response.create(**ask, temperature=0)
    assert (first.headers["x-aiproxy-cache"], again.headers["x-aiproxy-cache"]) == ("MISS", "HIT")
    assert again.headers["x-aiproxy-cost-usd"] == "0"
    one, two = first.parse(), again.parse()
    assert two.choices[0].message.tool_calls == one.choices[0].message.tool_calls
    assert two.usage.completion_tokens == one.usage.completion_tokens > 0  # the answer's own usage
    text, [call], finish = _streamed(client.chat.completions.create(**ask, temperature=0, stream=True))
    assert (finish, call["id"], call["arguments"]) == (
        "tool_calls",
        one.choices[0].message.tool_calls[0].id,
        one.choices[0].message.tool_calls[0].function.arguments,
    )


def test_models_retrieve(gateway, fake):
    model = _sdk(gateway).models.retrieve("llama3")
    assert (model.id, model.object) == ("llama3", "model")
    with pytest.raises(openai.NotFoundError):
        _sdk(gateway).models.retrieve("no-such-model")


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-haiku"])
def test_langchain_bind_tools_drives_a_tool_loop(gateway, fake, model):
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"cloudy in {city}"

    llm = ChatOpenAI(
        model=model, base_url=f"{gateway.url}/v1", api_key=CLIENT_KEY, max_retries=0, http_client=httpx.Client()
    ).bind_tools([get_weather])
    history: list[Any] = [HumanMessage("Berlin")]
    ai = llm.invoke(history)
    [call] = ai.tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Berlin"})
    history += [ai, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    final = llm.invoke(history)
    assert final.content == "tools said: cloudy in Berlin"


PDF_DATA = base64.b64encode(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n").decode()
FILE_PART = {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF_DATA}", "filename": "q3.pdf"}}


def test_a_pdf_file_part_reaches_openai_as_sent_and_anthropic_as_a_document(gateway, fake):
    content = [FILE_PART, {"type": "text", "text": "summarize it"}]
    for model in ("gpt-4o-mini", "claude-3-5-haiku"):
        answer = _sdk(gateway).chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
        assert answer.choices[0].message.content == "summarize it"
    openai_sent, anthropic_sent = (r["json"]["messages"][-1]["content"] for r in fake.requests()[-2:])
    assert openai_sent == content
    assert anthropic_sent[0] == {
        "type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_DATA},
    }  # fmt: skip
    assert anthropic_sent[1] == {"type": "text", "text": "summarize it"}


@pytest.mark.parametrize(
    ("model", "file", "field"),
    [
        ("llama3", FILE_PART["file"], "messages[0].content[0].file"),
        ("claude-3-5-haiku", {"file_id": "file-abc123"}, "messages[0].content[0].file.file_id"),
        ("gpt-4o-mini", {"file_data": "data:application/zip;base64,UEsDBA=="}, "messages[0].content[0].file.file_data"),
        (
            "gpt-4o-mini",
            {"file_data": "data:application/pdf;base64,not base64!"},
            "messages[0].content[0].file.file_data",
        ),
    ],
)
def test_files_a_kind_cannot_take_or_that_are_not_a_pdf_are_refused_by_name(gateway, fake, model, file, field):
    before = len(fake.requests())
    with pytest.raises(openai.BadRequestError) as caught:
        _sdk(gateway).chat.completions.create(
            model=model, messages=[{"role": "user", "content": [{"type": "file", "file": file}]}]
        )
    assert caught.value.body["param"] == field
    assert len(fake.requests()) == before  # no upstream was asked
