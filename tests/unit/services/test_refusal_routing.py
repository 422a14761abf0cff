"""What a provider kind cannot honour decides the route: the requested model's kind refusing is
the client's 400 (naming the field, no upstream asked); a fallback of a kind that would refuse
is skipped, its reason on the record's attempts."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from completions_app.services.completion import completion_create, completion_stream
from providers_app.adapters.types import ChatOptions, Message, Tool
from providers_app.errors import InvalidRequest, UpstreamServerError
from tests.fakes.behaviour import Behaviour

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_requested_kind_refusing_is_a_400_naming_the_field(gw):
    with pytest.raises(InvalidRequest) as info:
        await completion_create(gw.inp(model="claude-h", options=ChatOptions(n=2)), gw.ctx())
    assert info.value.field == "n" and "anthropic" in info.value.message
    assert gw.upstream_paths() == []
    [record] = await gw.records()
    assert (record.status, record.http_status, record.error_type) == ("error", 400, "invalid_request_error")


async def test_a_streamed_request_is_refused_the_same_way(gw):
    with pytest.raises(InvalidRequest) as info:
        async for _ in completion_stream(gw.inp(model="llama", options=ChatOptions(logit_bias={"1": 5.0})), gw.ctx()):
            pass
    assert info.value.field == "logit_bias"
    assert gw.upstream_paths() == []


async def test_a_fallback_that_would_refuse_is_skipped_with_its_reason(gw):
    # gpt-mini (openai) falls back to claude-h (anthropic), which cannot honour n=2.
    gw.fake.script(Behaviour.error(500, path="/v1/chat"))
    with pytest.raises(UpstreamServerError):
        await completion_create(gw.inp(options=ChatOptions(n=2)), gw.ctx())
    assert gw.upstream_paths() == ["/v1/chat/completions"]
    [record] = await gw.records()
    assert [(a["model"], a["outcome"]) for a in record.attempts] == [
        ("gpt-mini", "upstream_error"),
        ("claude-h", "unsupported:n"),
    ]


async def test_a_fallback_that_can_honour_the_request_serves_it(gw):
    # claude-h (anthropic) falls back to llama (ollama): both take tools.
    gw.fake.script(Behaviour.overloaded(path="/v1/messages"))
    tools = ChatOptions(tools=(Tool("lookup", parameters={"type": "object", "properties": {"q": {}}}),))
    result = await completion_create(gw.inp(model="claude-h", text="find it", options=tools), gw.ctx())
    assert result.provider == "ol" and result.finish_reason == "tool_calls"
    assert [(c.name, json.loads(c.arguments)) for c in result.tool_calls] == [("lookup", {"q": "find it"})]


async def test_a_system_message_after_the_start_skips_an_anthropic_fallback(gw):
    gw.fake.script(Behaviour.error(500, path="/v1/chat"))
    messages = (Message("user", "hi"), Message("system", "late rule"), Message("user", "again"))
    with pytest.raises(UpstreamServerError):
        await completion_create(replace(gw.inp(), messages=messages), gw.ctx())
    [record] = await gw.records()
    assert [a["outcome"] for a in record.attempts] == ["upstream_error", "unsupported:messages[1].role"]
