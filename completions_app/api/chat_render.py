"""Answers in OpenAI's Chat Completions shapes: the whole answer (`chat.completion`) and the
stream's chunks (`chat.completion.chunk`), declared as CHAT_RESPONSE and CHAT_CHUNK.

A plain text answer renders as it always did; the rest (tool calls, refusals, logprobs, the
choices of `n`) only when the answer has them.
"""

from __future__ import annotations

import time
from typing import Any

from completions_app.services.types import CompletionResult, StreamDelta, StreamEnd, StreamEvent
from providers_app.adapters.types import Choice, ToolCallDelta

from .sse import sse


def completion_id(request_id: str) -> str:
    return f"chatcmpl-{request_id}"


def usage_json(result: CompletionResult) -> dict[str, Any]:
    u = result.usage
    # OpenAI counts cached tokens inside prompt_tokens.
    prompt = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def finish_of(choice: Choice) -> str:
    return choice.finish_reason or ("tool_calls" if choice.tool_calls else "stop")


def choice_json(c: Choice) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        # OpenAI's null: an answer of tool calls (or a refusal) only has no text at all.
        "content": None if not c.text and (c.tool_calls or c.refusal is not None) else c.text,
        "refusal": c.refusal,
    }
    if c.tool_calls:
        message["tool_calls"] = [
            {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
            for t in c.tool_calls
        ]
    return {"index": c.index, "message": message, "finish_reason": finish_of(c), "logprobs": c.logprobs}


def openai_json(result: CompletionResult) -> dict[str, Any]:
    return {
        "id": completion_id(result.request_id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model,
        "choices": [choice_json(c) for c in result.choices],
        "usage": usage_json(result),
        "system_fingerprint": None,
    }


def tool_call_delta_json(d: ToolCallDelta) -> dict[str, Any]:
    if d.id is None:  # a later piece of the call: its arguments only
        return {"index": d.index, "function": {"arguments": d.arguments}}
    return {"index": d.index, "id": d.id, "type": "function", "function": {"name": d.name, "arguments": d.arguments}}


class ChunkRenderer:
    """StreamEvents as chunks: each choice's first chunk carries the role, and each choice
    ends with a chunk of its finish reason (choice 0's at StreamEnd)."""

    def __init__(self, request_id: str, model: str, include_usage: bool) -> None:
        self.base = {
            "id": completion_id(request_id),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self.include_usage = include_usage
        self.started = False
        self.seen: set[int] = {0}  # choices whose role was sent
        self.finished: set[int] = set()  # choices other than 0 whose finish was sent

    def _chunk(self, delta: dict, finish_reason: str | None, index: int = 0, logprobs: Any = None) -> bytes:
        chunk = {
            **self.base,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": logprobs}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return sse(chunk)

    def __call__(self, event: StreamEvent) -> list[bytes]:
        out = []
        if not self.started and isinstance(event, StreamDelta | StreamEnd):
            self.started = True
            out.append(self._chunk({"role": "assistant", "content": ""}, None))
        if isinstance(event, StreamDelta):
            if event.index == 0 and not event.tool_calls and event.refusal is None and event.logprobs is None:
                out.append(self._chunk({"content": event.text}, None))  # plain text: the common case
            else:
                self._rich(event, out)
        elif isinstance(event, StreamEnd):
            for c in event.result.choices[1:]:  # a choice whose finish was not streamed
                if c.index not in self.finished:
                    out.append(self._chunk(self._role(c.index), finish_of(c), c.index))
            out.append(self._chunk({}, finish_of(event.result.choices[0]), 0))
            if self.include_usage:
                out.append(sse({**self.base, "choices": [], "usage": usage_json(event.result)}))
        return out

    def _role(self, index: int) -> dict[str, Any]:
        if index in self.seen:
            return {}
        self.seen.add(index)
        return {"role": "assistant"}

    def _rich(self, event: StreamDelta, out: list[bytes]) -> None:
        delta = self._role(event.index)
        if event.text:
            delta["content"] = event.text
        if event.tool_calls:
            delta["tool_calls"] = [tool_call_delta_json(d) for d in event.tool_calls]
        if event.refusal is not None:
            delta["refusal"] = event.refusal
        if delta or event.logprobs is not None:
            out.append(self._chunk(delta, None, event.index, event.logprobs))
        if event.finish_reason is not None:
            self.finished.add(event.index)
            out.append(self._chunk({}, event.finish_reason, event.index))
