"""What an answer costs, on its record, exactly: reasoning, cached input, cache writes, tool calls.

Driven through the completion service (completion_create / completion_stream) and read back
from the database, each cost computed here by hand in Decimal from the fake's counts and the
model's prices (tests/unit/services/conftest.py): equality, never an approximation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from completions_app.models import CompletionRecord
from completions_app.services.catalog import catalog_invalidate
from completions_app.services.completion import completion_create, completion_stream
from completions_app.services.db import db_run
from completions_app.services.types import CompletionInput, StreamEnd
from providers_app.adapters.base import ProviderAdapter
from providers_app.adapters.registry import ADAPTERS
from providers_app.adapters.types import (
    ChatOptions,
    ChatRequest,
    Choice,
    Completion,
    Message,
    StreamChunk,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from providers_app.models import Model
from tests.factories import model_create, provider_create
from tests.fakes.behaviour import Behaviour

pytestmark = pytest.mark.django_db(transaction=True)

MTOK = Decimal(1_000_000)


async def _stream_record(inp: CompletionInput, gw) -> tuple[StreamEnd, CompletionRecord]:
    events = [e async for e in completion_stream(inp, gw.ctx())]
    assert isinstance(events[-1], StreamEnd)
    return events[-1], (await gw.records())[-1]


# --- reasoning: inside output_tokens, priced as output, once ------------------------------------
REASONING_KIND = "reasoning-test"


def _reasoning_usage() -> Usage:
    # What OpenAI reports for an o-series answer: completion_tokens 900, of which
    # completion_tokens_details.reasoning_tokens 640; prompt 2224 of which 1024 cached.
    return Usage(input_tokens=1200, output_tokens=900, cache_read_tokens=1024, reasoning_tokens=640)


class InProcessUpstream(ProviderAdapter):
    """A provider whose answers spent reasoning tokens, as an adapter reports them in Usage;
    asked with tools, it calls the first one (finish_reason "tool_calls").

    In process, not over HTTP: the wire fakes report no reasoning tokens, and reading them off
    the wire is each adapter's own test (tests/unit/adapters). What is under test here is the
    service from the adapter's answer on: the cost and the record."""

    kind = REASONING_KIND
    default_base_url = "http://127.0.0.1:9"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {}

    @staticmethod
    def _call(request: ChatRequest) -> ToolCall | None:
        tools = request.options.tools if request.options else ()
        return ToolCall(id="call_1", name=tools[0].name, arguments='{"q": "docs"}') if tools else None

    async def complete(self, request: ChatRequest) -> Completion:
        call = self._call(request)
        if call is not None:
            choice = Choice(tool_calls=(call,), finish_reason="tool_calls")
        else:
            choice = Choice(text="forty-two", finish_reason="stop")
        return Completion(choices=[choice], usage=_reasoning_usage())

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        call = self._call(request)
        if call is not None:
            yield StreamChunk(tool_calls=(ToolCallDelta(0, id=call.id, name=call.name),))
            yield StreamChunk(tool_calls=(ToolCallDelta(0, arguments=call.arguments[:5]),))
            yield StreamChunk(tool_calls=(ToolCallDelta(0, arguments=call.arguments[5:]),))
            yield StreamChunk(finish_reason="tool_calls", usage=_reasoning_usage())
            return
        yield StreamChunk(text="forty")
        yield StreamChunk(text="-two")
        yield StreamChunk(finish_reason="stop", usage=_reasoning_usage())

    async def list_models(self) -> list[str]:
        return ["o-think"]


@pytest.fixture
async def reasoning_model(gw, monkeypatch):
    monkeypatch.setitem(ADAPTERS, REASONING_KIND, InProcessUpstream)

    def create() -> None:
        provider = provider_create("rs", REASONING_KIND, "http://127.0.0.1:9", keys=("sk-rs-key-5555",))
        model_create("o-think", provider, input_price="2.50", output_price="10.00", cache_read_price="1.25")

    await db_run(create)
    catalog_invalidate()
    return "o-think"


# 1200 × 2.50 + 900 × 10.00 + 1024 × 1.25 per million. The 640 reasoning tokens are among
# the 900 output tokens: adding them again would give 0.01968.
REASONING_COST = (1200 * Decimal("2.50") + 900 * Decimal("10.00") + 1024 * Decimal("1.25")) / MTOK


async def test_reasoning_tokens_are_recorded_and_priced_as_output_once(gw, reasoning_model):
    result = await completion_create(gw.inp(model=reasoning_model), gw.ctx())
    assert result.cost_usd == REASONING_COST == Decimal("0.01328")
    [record] = await gw.records()
    assert (record.input_tokens, record.output_tokens, record.reasoning_tokens, record.cache_read_tokens) == (
        1200,
        900,
        640,
        1024,
    )
    assert (record.output_price_per_mtok, record.cache_read_price_per_mtok) == (Decimal("10.00"), Decimal("1.25"))
    assert record.cost_usd == REASONING_COST
    assert (
        record.cost_usd
        == (
            record.input_tokens * record.input_price_per_mtok
            + record.output_tokens * record.output_price_per_mtok
            + record.cache_read_tokens * record.cache_read_price_per_mtok
        )
        / MTOK
    )


async def test_a_streamed_answers_reasoning_tokens_are_on_its_record(gw, reasoning_model):
    end, record = await _stream_record(gw.inp(model=reasoning_model), gw)
    assert end.result.cost_usd == REASONING_COST
    assert (record.stream, record.usage_estimated, record.finish_reason) == (True, False, "stop")
    assert (record.output_tokens, record.reasoning_tokens) == (900, 640)
    assert record.cost_usd == REASONING_COST


async def test_an_answer_without_reasoning_records_zero(gw):
    await completion_create(gw.inp(), gw.ctx())
    [record] = await gw.records()
    assert (record.output_tokens, record.reasoning_tokens) == (3, 0)


# --- cached input: the cache-read price -----------------------------------------------------------
async def test_cached_input_is_recorded_at_the_cache_read_price_streamed(gw):
    gw.fake.script(Behaviour.ok(cache_read=5))
    # The openai fake: prompt_tokens 6 + 5 cached (OpenAI counts them inside prompt_tokens),
    # completion_tokens 6 (the words echoed).
    end, record = await _stream_record(gw.inp(text="a b c d e f"), gw)
    assert (record.input_tokens, record.cache_read_tokens, record.cache_write_tokens, record.output_tokens) == (
        6,
        5,
        0,
        6,
    )
    assert (record.input_price_per_mtok, record.cache_read_price_per_mtok) == (Decimal("0.15"), Decimal("0.075"))
    expected = (6 * Decimal("0.15") + 5 * Decimal("0.075") + 6 * Decimal("0.60")) / MTOK
    assert record.cost_usd == end.result.cost_usd == expected == Decimal("0.000004875")


# --- cache writes: the cache-write price (Anthropic's cache_creation_input_tokens) ------------------
@pytest.fixture
async def claude_cache_prices(gw):
    await db_run(
        lambda: Model.objects.filter(name="claude-h").update(
            cache_read_per_mtok=Decimal("0.08"), cache_write_per_mtok=Decimal("1.00")
        )
    )
    catalog_invalidate()


# The anthropic fake: input_tokens 3 (the words sent, cache excluded, as Anthropic counts),
# output 3, cache_read_input_tokens 40, cache_creation_input_tokens 12.
CACHE_COST = (3 * Decimal("0.80") + 3 * Decimal("4.00") + 40 * Decimal("0.08") + 12 * Decimal("1.00")) / MTOK


def _assert_cache_record(record: CompletionRecord) -> None:
    assert (record.input_tokens, record.output_tokens, record.cache_read_tokens, record.cache_write_tokens) == (
        3,
        3,
        40,
        12,
    )
    assert (record.cache_read_price_per_mtok, record.cache_write_price_per_mtok) == (Decimal("0.08"), Decimal("1.00"))
    assert record.cost_usd == CACHE_COST == Decimal("0.0000296")


async def test_cache_writes_and_reads_are_priced_apart(gw, claude_cache_prices):
    gw.fake.script(Behaviour.ok(cache_read=40, cache_write=12))
    result = await completion_create(gw.inp(model="claude-h"), gw.ctx())
    assert result.cost_usd == CACHE_COST
    [record] = await gw.records()
    _assert_cache_record(record)


async def test_cache_writes_and_reads_are_priced_apart_streamed(gw, claude_cache_prices):
    gw.fake.script(Behaviour.ok(cache_read=40, cache_write=12))
    end, record = await _stream_record(gw.inp(model="claude-h"), gw)
    assert end.result.cost_usd == CACHE_COST
    _assert_cache_record(record)


async def test_a_cache_write_price_left_empty_is_the_input_price(gw):
    gw.fake.script(Behaviour.ok(cache_write=12))
    await completion_create(gw.inp(model="claude-h"), gw.ctx())
    [record] = await gw.records()
    assert (record.cache_write_tokens, record.cache_write_price_per_mtok) == (12, Decimal("0.80"))
    assert record.cost_usd == (3 * Decimal("0.80") + 3 * Decimal("4.00") + 12 * Decimal("0.80")) / MTOK


# --- a tool-call answer: finish reason and cost ----------------------------------------------------
LOOKUP = ChatOptions(tools=(Tool("lookup", parameters={"type": "object", "properties": {"q": {"type": "string"}}}),))


def _tool_input() -> CompletionInput:
    return CompletionInput(model="gpt-mini", messages=(Message("user", "find the gateway docs"),), options=LOOKUP)


# The fake calls `lookup` with {"q": "find the gateway docs"}: input 4 words, output the
# arguments' 5 words (`{"q":` `"find` `the` `gateway` `docs"}`).
TOOL_COST = (4 * Decimal("0.15") + 5 * Decimal("0.60")) / MTOK


async def test_a_tool_call_answer_records_finish_reason_tool_calls_and_its_cost(gw):
    result = await completion_create(_tool_input(), gw.ctx())
    [call] = result.choices[0].tool_calls
    assert (call.name, call.arguments) == ("lookup", '{"q": "find the gateway docs"}')
    [record] = await gw.records()
    assert (record.status, record.finish_reason) == ("ok", "tool_calls")
    assert (record.input_tokens, record.output_tokens) == (4, 5)
    assert record.cost_usd == result.cost_usd == TOOL_COST


async def test_a_streamed_tool_call_answer_records_finish_reason_tool_calls(gw):
    end, record = await _stream_record(_tool_input(), gw)
    assert [c.name for c in end.result.choices[0].tool_calls] == ["lookup"]
    assert (record.status, record.stream, record.finish_reason) == ("ok", True, "tool_calls")
    assert (record.input_tokens, record.output_tokens, record.usage_estimated) == (4, 5, False)
    assert record.cost_usd == TOOL_COST


# The same, from an adapter's answer on (no wire): what the service records of a tool call
# does not wait for any adapter's translation of tools.
async def test_the_service_records_an_adapters_tool_call_answer(gw, reasoning_model):
    inp = CompletionInput(model=reasoning_model, messages=(Message("user", "find the docs"),), options=LOOKUP)
    result = await completion_create(inp, gw.ctx())
    assert [(c.name, c.arguments) for c in result.choices[0].tool_calls] == [("lookup", '{"q": "docs"}')]
    end, _ = await _stream_record(inp, gw)
    assert [(c.name, c.arguments) for c in end.result.choices[0].tool_calls] == [("lookup", '{"q": "docs"}')]
    records = await gw.records()
    assert [(r.stream, r.finish_reason, r.output_tokens, r.reasoning_tokens) for r in records] == [
        (False, "tool_calls", 900, 640),
        (True, "tool_calls", 900, 640),
    ]
    assert {r.cost_usd for r in records} == {REASONING_COST}


# --- 1-hour cache writes: their own price (cache_creation.ephemeral_1h_input_tokens) ----------------
@pytest.fixture
async def claude_1h_prices(gw):
    await db_run(
        lambda: Model.objects.filter(name="claude-h").update(
            cache_write_per_mtok=Decimal("1.00"), cache_write_1h_per_mtok=Decimal("1.60")
        )
    )
    catalog_invalidate()


# 12 cache writes, 5 of them for 1 hour: 7 at the 5-minute price, 5 at the 1-hour one.
CACHE_1H_COST = (3 * Decimal("0.80") + 3 * Decimal("4.00") + 7 * Decimal("1.00") + 5 * Decimal("1.60")) / MTOK


async def test_one_hour_cache_writes_are_priced_at_their_own_price(gw, claude_1h_prices):
    gw.fake.script(Behaviour.ok(cache_write=12, cache_write_1h=5))
    result = await completion_create(gw.inp(model="claude-h"), gw.ctx())
    assert result.cost_usd == CACHE_1H_COST == Decimal("0.0000294")
    [record] = await gw.records()
    assert (record.cache_write_tokens, record.cache_write_1h_tokens) == (12, 5)
    assert (record.cache_write_price_per_mtok, record.cache_write_1h_price_per_mtok) == (
        Decimal("1.00"),
        Decimal("1.60"),
    )
    assert record.cost_usd == CACHE_1H_COST


async def test_one_hour_cache_writes_are_priced_apart_streamed(gw, claude_1h_prices):
    gw.fake.script(Behaviour.ok(cache_write=12, cache_write_1h=5))
    end, record = await _stream_record(gw.inp(model="claude-h"), gw)
    assert end.result.cost_usd == record.cost_usd == CACHE_1H_COST
    assert record.cache_write_1h_tokens == 5


async def test_without_a_one_hour_price_the_five_minute_price_applies(gw, claude_cache_prices):
    gw.fake.script(Behaviour.ok(cache_write=12, cache_write_1h=5))
    await completion_create(gw.inp(model="claude-h"), gw.ctx())
    [record] = await gw.records()
    assert record.cache_write_1h_price_per_mtok == Decimal("1.00")
    assert record.cost_usd == (3 * Decimal("0.80") + 3 * Decimal("4.00") + 12 * Decimal("1.00")) / MTOK
