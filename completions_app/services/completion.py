"""The completion service: the one thing REST, the OpenAI-compatible API and
gRPC call. Validation, cache, single flight, a limited key's limits (limit_gate:
admitted after the cache lookup, settled once at the end), routing, cost, the audit
record and metrics all happen here, in that order, for streams and non-streams alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import replace

from completions_app import metrics
from providers_app.adapters.base import ProviderAdapter
from providers_app.adapters.registry import ADAPTERS
from providers_app.adapters.types import ROLES, ChatRequest, Choice, Completion, StreamChunk, Usage
from providers_app.errors import GatewayError, InvalidRequest

from ..models import CompletionRecord
from .answer import AnswerBuilder, Piece, choices_of, delta_of, pieces_of
from .audit import Outcome, estimate_input_tokens, estimate_tokens, outcome_finish
from .call_steps import (
    CHAT,
    answered,
    cache_lookup,
    call_end,
    call_settled_end,
    call_start,
    error_apply,
    hit_apply,
    miss_call,
    model_resolve,
    routed_call,
    shielded,
    upstream_durations,
)
from .catalog import Catalog, ModelEntry, catalog_get
from .chat_checks import check_rich
from .cost import cost_compute
from .gateway_state import GatewayState, gateway_state
from .limit_gate import HIT, admit, ask_for
from .response_cache import CachedAnswer, cache_key, cacheable
from .types import CallContext, CompletionInput, CompletionResult, StreamDelta, StreamEnd, StreamEvent, StreamStart

log = logging.getLogger(__name__)
# Cached labelled children (metrics.Children): `.labels()` per request costs ~3 µs.
_ttfts = metrics.Children(metrics.ttft_seconds)  # provider
_unauthenticated = metrics.Children(metrics.unauthenticated_total)  # interface

MAX_TOKENS_LIMIT = 1_000_000
Status = CompletionRecord.Status


# --- validation -----------------------------------------------------------------------------
def _validate(inp: CompletionInput) -> None:
    if not inp.messages:
        raise InvalidRequest("Provide `prompt` or a non-empty `messages` list.", field="messages")
    for i, m in enumerate(inp.messages):
        if m.role not in ROLES:
            raise InvalidRequest(f"messages[{i}].role must be one of {', '.join(ROLES)}.", field=f"messages[{i}].role")
    if inp.max_tokens is not None and not (1 <= inp.max_tokens <= MAX_TOKENS_LIMIT):
        raise InvalidRequest(f"max_tokens must be between 1 and {MAX_TOKENS_LIMIT}.", field="max_tokens")
    if inp.temperature is not None and not (0 <= inp.temperature <= 2):
        raise InvalidRequest("temperature must be between 0 and 2.", field="temperature")
    if inp.top_p is not None and not (0 <= inp.top_p <= 1):
        raise InvalidRequest("top_p must be between 0 and 1.", field="top_p")
    if len(inp.stop) > 16:
        raise InvalidRequest("stop takes at most 16 sequences.", field="stop")
    if not inp.plain:
        check_rich(inp.messages, inp.options)


def _resolve(catalog: Catalog, inp: CompletionInput, ctx: CallContext) -> ModelEntry:
    """The model, if the key may use it; an embedding model is a 400 naming /v1/embeddings."""
    return model_resolve(catalog, inp.model, ctx, mode=CHAT)


def _chat_request(model: ModelEntry, inp: CompletionInput) -> ChatRequest:
    # The model's admin-set max_output_tokens caps what a client asks for, and is what is
    # asked for when the client sets nothing.
    max_tokens = inp.max_tokens
    if model.max_output_tokens and (max_tokens is None or max_tokens > model.max_output_tokens):
        max_tokens = model.max_output_tokens
    options = inp.options
    if options is not None and model.json_schema_via_tool:
        # An admin setting of the serving model, not of the request (each model of a chain its own).
        options = replace(options, json_schema_via_tool=True)
    return ChatRequest(
        model=model.upstream_model,
        messages=inp.messages,
        max_tokens=max_tokens,
        temperature=inp.temperature,
        top_p=inp.top_p,
        stop=inp.stop,
        user=inp.user,
        options=options,
    )


def _refusal(inp: CompletionInput) -> Callable[[ModelEntry], GatewayError | None] | None:
    """For a request using more than plain text: what each model of the chain cannot honour
    (by its provider kind), checked before it is asked. None for plain text: every kind can."""
    if inp.plain:
        return None

    def check(m: ModelEntry) -> GatewayError | None:
        return ADAPTERS[m.provider.kind].refusal(_chat_request(m, inp))

    return check


def _result(
    o: Outcome,
    *,
    choices: list[Choice],
    response_id: str | None = None,
    usage: Usage | None = None,
    limit_headers: dict[str, str] | None = None,
) -> CompletionResult:
    return CompletionResult(
        request_id=o.ctx.request_id,
        model=o.inp.model,
        served_model=o.served_model,
        provider=o.provider,
        choices=choices,
        usage=usage if usage is not None else o.usage,
        cost_usd=o.cost,
        cached=o.cached,
        latency_ms=o.latency_ms,
        response_id=response_id,
        usage_estimated=o.usage_estimated,
        attempts=o.attempts,
        limit_headers=limit_headers,
    )


def _apply_hit(o: Outcome, hit: CachedAnswer) -> None:
    hit_apply(o, served_model=hit.served_model, provider=hit.provider, cost_usd=hit.cost_usd)
    o.finish_reason, o.stop_sequence = hit.finish_reason, hit.stop_sequence


def _apply_usage(
    o: Outcome, model: ModelEntry, usage: Usage | None, delivered: str, counted: Usage | None = None
) -> None:
    """The provider's usage; without it, the input and cache counts it did send (`counted`,
    StreamChunk.counted) and an estimate for the rest, flagged on the record."""
    if usage is None:
        estimated_output = estimate_tokens(delivered)
        if counted is not None:
            usage = Usage(
                input_tokens=counted.input_tokens,
                output_tokens=estimated_output,
                cache_read_tokens=counted.cache_read_tokens,
                cache_write_tokens=counted.cache_write_tokens,
                cache_write_1h_tokens=counted.cache_write_1h_tokens,
            )
        else:
            usage = Usage(input_tokens=estimate_input_tokens(o.inp.messages), output_tokens=estimated_output)
        o.usage_estimated = True
    o.usage, o.prices = usage, model.prices
    o.cost = cost_compute(usage=usage, prices=model.prices)


async def _lookup(state: GatewayState, o: Outcome, key: str | None) -> CachedAnswer | None:
    """A cached answer, or the answer of an identical request in flight (call_steps.cache_lookup)."""
    return await cache_lookup(state, key, state.cache.get)


# --- refused before the service was called ---------------------------------------------------
def completion_refused(model: str, ctx: CallContext, error: BaseException) -> None:
    """The record of an authenticated request its interface refused while parsing (400, 413,
    415...): every authenticated request leaves one. `model` is the name as given, or ""."""
    o = Outcome(ctx=ctx, inp=CompletionInput(model=model, messages=()), stream=False)
    error_apply(o, error)
    outcome_finish(o)


def completion_unauthenticated(interface: str) -> None:
    """A completion request refused before its key was accepted: counted, never recorded
    (there is no client to record it for)."""
    _unauthenticated.get(interface).inc()


# --- non-streaming -----------------------------------------------------------------------------
async def completion_create(inp: CompletionInput, ctx: CallContext) -> CompletionResult:
    o, t0 = call_start(inp, ctx, stream=False)
    try:
        _validate(inp)
        catalog = await catalog_get()
        model = _resolve(catalog, inp, ctx)
        key = cache_key(inp, client_id=ctx.client.id, shared=model.cache_shared) if cacheable(inp) else None
        state = gateway_state()
        hit = await _lookup(state, o, key)
        owners = ctx.client.owners  # () for an unlimited key: it skips every limit step
        if hit is not None:
            headers = (await admit(o, state.limiter, owners, HIT)).headers if owners else None
            _apply_hit(o, hit)
            o.latency_ms = (time.perf_counter() - t0) * 1000
            return _result(o, choices=_hit_choices(hit), usage=hit.usage, limit_headers=headers)
        completion = await miss_call(
            o,
            state,
            key,
            lambda: ask_for(inp, model),
            lambda: _call(o, catalog, model),
            lambda done: _answer(o, done.text, pieces_of(done.choices)),
            state.cache.set,
        )
        o.latency_ms = (time.perf_counter() - t0) * 1000
        headers = o.admission.headers if o.admission is not None else None
        return _result(o, choices=completion.choices, response_id=completion.response_id, limit_headers=headers)
    except BaseException as exc:
        error_apply(o, exc)
        raise
    finally:
        if o.admission is None:
            call_end(o, t0)
        else:
            await call_settled_end(o, t0)


async def _call(o: Outcome, catalog: Catalog, model: ModelEntry) -> Completion:
    async def run(m: ModelEntry, adapter: ProviderAdapter) -> Completion:
        # Shielded so that a client leaving does not lose an answer that has arrived: the
        # provider bills it, so the record carries its usage (_abandoned).
        return await shielded(adapter.complete(_chat_request(m, o.inp)), lambda answer: _abandoned(o, m, answer))

    routed, _started = await routed_call(o, catalog, model, run, _refusal(o.inp))
    answered(o, routed)
    completion = routed.value
    o.finish_reason, o.stop_sequence = completion.finish_reason, completion.choices[0].stop_sequence
    _apply_usage(o, routed.model, completion.usage, _delivered(completion.choices))
    return completion


def _abandoned(o: Outcome, m: ModelEntry, answer: Completion) -> None:
    """The caller was cancelled (client gone, gRPC deadline) as `answer` arrived (within
    call_steps.ANSWER_GRACE_S): its usage goes on the record."""
    o.served_model, o.provider, o.finish_reason = m.name, m.provider.name, answer.finish_reason
    _apply_usage(o, m, answer.usage, _delivered(answer.choices))


def _delivered(choices: list[Choice]) -> str:
    """What an output estimate counts: every choice's text, refusal and tool calls."""
    if len(choices) == 1 and not choices[0].tool_calls and choices[0].refusal is None:
        return choices[0].text
    parts = []
    for c in choices:
        parts.append(c.text)
        parts.append(c.refusal or "")
        parts.extend(t.name + t.arguments for t in c.tool_calls)
    return "".join(parts)


def _hit_choices(hit: CachedAnswer) -> list[Choice]:
    if all(type(piece) is str for piece in hit.chunks):
        return [Choice(text=hit.text, finish_reason=hit.finish_reason, stop_sequence=hit.stop_sequence)]
    choices = choices_of(hit.chunks, hit.finish_reason)
    choices[0].stop_sequence = hit.stop_sequence
    return choices


def _answer(o: Outcome, text: str, chunks: list[Piece]) -> CachedAnswer:
    return CachedAnswer(
        text=text,
        chunks=chunks,
        finish_reason=o.finish_reason,
        usage=o.usage,
        served_model=o.served_model,
        provider=o.provider,
        cost_usd=str(o.cost),
        stop_sequence=o.stop_sequence,
    )


# --- streaming ---------------------------------------------------------------------------------------
async def completion_stream(inp: CompletionInput, ctx: CallContext) -> AsyncIterator[StreamEvent]:
    """Deltas, then one StreamEnd. Errors before the first delta and mid-stream
    are raised as GatewayError; the record is written however the stream ends,
    including when the consumer stops iterating (client disconnect)."""
    o, t0 = call_start(inp, ctx, stream=True)
    try:
        _validate(inp)
        catalog = await catalog_get()
        model = _resolve(catalog, inp, ctx)
        key = cache_key(inp, client_id=ctx.client.id, shared=model.cache_shared) if cacheable(inp) else None
        state = gateway_state()
        hit = await _lookup(state, o, key)
        owners = ctx.client.owners  # () for an unlimited key: it skips every limit step
        if hit is not None:
            headers = (await admit(o, state.limiter, owners, HIT)).headers if owners else None
            _apply_hit(o, hit)
            yield StreamStart(ctx.request_id, o.served_model, o.provider, cached=True, limit_headers=headers)
            for piece in hit.chunks:
                yield StreamDelta(piece) if type(piece) is str else delta_of(piece)
            o.latency_ms = (time.perf_counter() - t0) * 1000
            yield StreamEnd(_result(o, choices=_hit_choices(hit), usage=hit.usage, limit_headers=headers))
            return
        builder = AnswerBuilder()
        if key is not None and state.flights.follower_of(key) is None:
            async with state.flights.lead(key) as flight:
                if owners:
                    await admit(o, state.limiter, owners, ask_for(inp, model), flight)
                async with aclosing(_stream_upstream(o, t0, catalog, model, builder)) as events:
                    async for event in events:
                        yield event
                answer = _answer(o, builder.text, builder.pieces)
                flight.resolve(answer)
                await state.cache.set(key, answer)
        else:
            if owners:
                await admit(o, state.limiter, owners, ask_for(inp, model))
            # aclosing: when our consumer stops early, the upstream stream is
            # closed and its usage settled before the record is written.
            async with aclosing(_stream_upstream(o, t0, catalog, model, builder)) as events:
                async for event in events:
                    yield event
    except BaseException as exc:
        error_apply(o, exc)
        raise
    finally:
        if o.admission is None:
            call_end(o, t0)
        else:
            await call_settled_end(o, t0)


async def _stream_upstream(
    o: Outcome, t0: float, catalog: Catalog, model: ModelEntry, builder: AnswerBuilder
) -> AsyncIterator[StreamEvent]:
    async def run(m: ModelEntry, adapter: ProviderAdapter) -> tuple[AsyncIterator[StreamChunk], StreamChunk | None]:
        # Failover is possible until the first chunk arrives, so opening the
        # stream and reading its first chunk is the routed call.
        it = aiter(adapter.stream(_chat_request(m, o.inp)))
        try:
            return it, await anext(it)
        except StopAsyncIteration:
            return it, None
        except BaseException:
            await it.aclose()
            raise

    routed, started = await routed_call(o, catalog, model, run, _refusal(o.inp))
    m, (it, chunk) = routed.model, routed.value
    o.ttft_ms = (time.perf_counter() - t0) * 1000
    _ttfts.get(o.provider).observe(time.perf_counter() - started)
    usage: Usage | None = None
    counted: Usage | None = None
    headers = o.admission.headers if o.admission is not None else None
    try:
        yield StreamStart(
            o.ctx.request_id,
            o.served_model,
            o.provider,
            cached=False,
            limit_headers=headers,
            counted=chunk.counted if chunk is not None else None,
        )
        while chunk is not None:
            if chunk.counted is not None:  # before the yield: the consumer may stop there
                counted = chunk.counted
            delta = builder.add(chunk)
            if delta is not None:
                yield delta
            if chunk.usage is not None:
                usage = chunk.usage
            if chunk.finish_reason and not chunk.index:
                o.finish_reason, o.stop_sequence = chunk.finish_reason, chunk.stop_sequence
            chunk = await anext(it, None)
        routed.ticket.success()
    except BaseException as exc:
        if isinstance(exc, GatewayError):
            routed.ticket.failure(exc)
        else:
            routed.ticket.release()
        raise
    finally:
        o.upstream_s = time.perf_counter() - started
        upstream_durations.get(o.provider).observe(o.upstream_s)
        # What was delivered is what is billed: the provider's usage when it sent one,
        # else the counts it did send and an estimate for the rest (flagged on the record).
        _apply_usage(o, m, usage, builder.all_text(), counted)
        await it.aclose()
    o.latency_ms = (time.perf_counter() - t0) * 1000
    choices = builder.choices(o.finish_reason)
    choices[0].stop_sequence = o.stop_sequence
    yield StreamEnd(_result(o, choices=choices, limit_headers=headers))
