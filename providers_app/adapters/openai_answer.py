"""OpenAI Chat Completions answers -> Completion / StreamChunk: every choice, tool calls,
refusals, logprobs (kept as OpenAI's own object) and usage.

Usage normalization (so that cost = input*in_price + cache_read*cache_read_price holds for
every provider):
- OpenAI's `prompt_tokens` INCLUDES cached tokens; `prompt_tokens_details.cached_tokens`
  says how many were read from the cache (and `cache_write_tokens`, where a server reports
  it, how many were written to it).
- Usage.input_tokens is always the NON-cached input: here prompt_tokens - cached - written;
  Usage.cache_read_tokens / cache_write_tokens carry the rest.
- `completion_tokens` INCLUDES reasoning tokens (priced as output), so it is output_tokens
  as it is; `completion_tokens_details.reasoning_tokens` is copied for the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from providers_app.errors import UpstreamConnectionError, UpstreamMalformedResponse

from .body import count, field_of, str_or_none, text_or_empty
from .types import Choice, Completion, StreamChunk, ToolCall, ToolCallDelta, Usage

PROVIDER = "openai"


def usage_from(usage: Any) -> Usage:
    """`usage` of a response body or of a stream chunk (decoded JSON) -> Usage."""
    details = field_of(usage, "prompt_tokens_details")
    cached = count(field_of(details, "cached_tokens")) if details is not None else 0
    written = count(field_of(details, "cache_write_tokens")) if details is not None else 0
    out_details = field_of(usage, "completion_tokens_details")
    return Usage(
        input_tokens=max(0, count(field_of(usage, "prompt_tokens")) - cached - written),
        output_tokens=count(field_of(usage, "completion_tokens")),
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=count(field_of(out_details, "reasoning_tokens")) if out_details is not None else 0,
    )


def completion_from(body: Any) -> Completion:
    """A Chat Completions response body (decoded JSON) -> Completion.

    Raises UpstreamMalformedResponse on a body of the wrong shape."""
    if not isinstance(body, dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response is not a JSON object")
    choices = body.get("choices")
    if not choices or not isinstance(choices, list):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response has no choices")
    usage = body.get("usage")
    return Completion(
        choices=[_choice(i, c) for i, c in enumerate(choices)],
        usage=usage_from(usage) if usage is not None else Usage(),
        response_id=str_or_none(body.get("id")),
        model=str_or_none(body.get("model")),
    )


def _choice(position: int, choice: Any) -> Choice:
    if not isinstance(choice, dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response has no choices")
    message = choice.get("message")
    if not isinstance(message, dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: choice has no message")
    calls = message.get("tool_calls")
    index = choice.get("index", position)
    if not isinstance(index, int):
        raise UpstreamMalformedResponse(f"{PROVIDER}: a choice's index is not an integer")
    return Choice(
        index=index,
        text=text_or_empty(message.get("content")),
        finish_reason=str_or_none(choice.get("finish_reason")),
        tool_calls=tuple(_tool_call(c) for c in calls) if calls else (),
        refusal=str_or_none(message.get("refusal")),
        logprobs=choice.get("logprobs"),
    )


def _tool_call(call: Any) -> ToolCall:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: a tool call has no function")
    try:
        return ToolCall(
            id=text_or_empty(call.get("id")),
            name=text_or_empty(function.get("name")),
            arguments=text_or_empty(function.get("arguments")),  # as sent: not re-encoded
        )
    except TypeError:
        raise UpstreamMalformedResponse(f"{PROVIDER}: a tool call of the wrong shape") from None


def _tool_call_delta(piece: dict[str, Any]) -> ToolCallDelta:
    function = piece.get("function") or {}
    return ToolCallDelta(
        index=count(piece.get("index")),
        id=str_or_none(piece.get("id")),
        name=str_or_none(function.get("name")),
        arguments=text_or_empty(function.get("arguments")),
    )


@dataclass
class StreamState:
    response_id: str | None = None
    finish_reason: str | None = None  # choice 0's
    usage: Usage | None = None

    def chunks_for(self, chunk: dict[str, Any]) -> tuple[StreamChunk, ...]:
        """One decoded `chat.completion.chunk` -> the pieces it carries (usually one or none).
        A chunk of the wrong shape raises AttributeError / TypeError (classified as malformed)."""
        self.response_id = self.response_id or str_or_none(chunk.get("id"))
        usage = chunk.get("usage")
        if usage is not None:  # the include_usage chunk (its `choices` is empty)
            self.usage = usage_from(usage)
        choices = chunk.get("choices")
        if not choices:
            return ()
        if len(choices) == 1:
            out = self._piece(choices[0])
            return (out,) if out is not None else ()
        return tuple(p for p in map(self._piece, choices) if p is not None)

    def _piece(self, choice: dict[str, Any]) -> StreamChunk | None:
        index = choice.get("index", 0)
        finish = str_or_none(choice.get("finish_reason"))
        delta = choice.get("delta")
        logprobs = choice.get("logprobs")
        if delta is None:
            text, calls, refusal = None, None, None
        else:
            text, calls, refusal = str_or_none(delta.get("content")), delta.get("tool_calls"), delta.get("refusal")
        if index == 0:
            if finish is not None:
                self.finish_reason = finish  # reported on the final chunk, with usage
            if not calls and not refusal and logprobs is None:  # text only: the common case
                return StreamChunk(text=text, response_id=self.response_id) if text else None
            finish = None
        elif not isinstance(index, int):
            raise TypeError("a chunk's choice index is not an integer")
        if not (text or calls or refusal or logprobs is not None or finish):
            return None
        return StreamChunk(
            text=text or "",
            index=index,
            finish_reason=finish,  # a choice other than 0 ends on its own chunk
            tool_calls=tuple(_tool_call_delta(c) for c in calls) if calls else (),
            refusal=str_or_none(refusal) or None,
            logprobs=logprobs,
            response_id=self.response_id,
        )

    def final_chunk(self) -> StreamChunk:
        if self.finish_reason is None:
            # A body that ends (with or without [DONE]) before choice 0's finish_reason was
            # cut short, and must not pass for a complete answer.
            raise UpstreamConnectionError(f"{PROVIDER}: stream ended without a finish_reason")
        extra = {} if self.usage is not None else {"usage_missing": True}  # server ignored include_usage
        return StreamChunk(
            finish_reason=self.finish_reason, usage=self.usage or Usage(), response_id=self.response_id, extra=extra
        )
