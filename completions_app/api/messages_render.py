"""Answers in Anthropic's Messages shapes: the whole message (MESSAGES_RESPONSE) and the exact
event sequence of its stream (MESSAGES_EVENT), whatever provider kind answered.

The message: a text block when there is text, then a tool_use block per tool call (its input:
the arguments parsed; arguments that are not a JSON object, which only a broken answer has, are
kept as {"_arguments": the text} rather than lost). finish_reason -> stop_reason by STOP_REASONS,
the inverse of the adapter's table (anthropic_answer.FINISH_REASONS). The service reports a stop
sequence as "stop"; when the provider said which (an anthropic provider does), stop_reason is
stop_sequence and stop_sequence that sequence, else end_turn and null.
Usage: input_tokens never counts cache reads or writes (as the service's Usage and Anthropic's).

The stream: message_start (usage: the input and cache counts when the provider sent them
before its answer, as an anthropic provider does; else 0, told at the end), ping, then per
block content_block_start / content_block_delta (text_delta, input_json_delta) /
content_block_stop, each block closed before the next opens; message_delta with stop_reason
and the whole usage (input and cache counts too, which the SDK's accumulator takes from it);
message_stop. A stream cut after its start ends with an `error` event.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from completions_app.services.types import CompletionResult, StreamDelta, StreamEnd, StreamEvent
from providers_app import json_bytes
from providers_app.adapters.types import Choice, Thinking, ThinkingDelta, Usage

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def message_id(request_id: str) -> str:
    return f"msg_{request_id}"


def stop_reason(choice: Choice) -> str:
    if choice.refusal is not None:
        return "refusal"
    if choice.stop_sequence is not None:
        return "stop_sequence"
    given = choice.finish_reason or ("tool_calls" if choice.tool_calls else "stop")
    return STOP_REASONS.get(given, "end_turn")


def usage_json(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.cache_write_tokens - u.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": u.cache_write_1h_tokens,
        },
    }


def tool_input(arguments: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"_arguments": arguments}


def message_json(result: CompletionResult) -> dict[str, Any]:
    choice = result.choices[0]
    text = choice.text or (choice.refusal or "")
    content: list[dict[str, Any]] = [thinking_json(t) for t in choice.thinking]
    if text:
        content.append({"type": "text", "text": text})
    content += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": tool_input(c.arguments)} for c in choice.tool_calls
    ]
    return {
        "id": message_id(result.request_id),
        "type": "message",
        "role": "assistant",
        "model": result.model,
        "content": content,
        "stop_reason": stop_reason(choice),
        "stop_sequence": choice.stop_sequence,
        "usage": usage_json(result.usage),
    }


def thinking_json(t: Thinking) -> dict[str, Any]:
    if t.redacted is not None:
        return {"type": "redacted_thinking", "data": t.redacted}
    return {"type": "thinking", "thinking": t.text, "signature": t.signature}


def event(data: dict[str, Any]) -> bytes:
    """One Server-Sent Event as Anthropic sends it: `event:` its type, `data:` the JSON."""
    return b"event: %s\ndata: %s\n\n" % (data["type"].encode(), json_bytes.dumps(data))


class EventRenderer:
    """StreamEvents as Anthropic's events. `opening()` is sent first; then each event's list."""

    def __init__(self, request_id: str, model: str) -> None:
        self.request_id, self.model = request_id, model
        self.block = -1  # the index of the last block opened
        self.open: str | None = None  # "text", or "tool:<call index>": the block now open
        self.tool_blocks: dict[int, int] = {}  # tool call index -> its block's index
        self.refused = False

    def opening(self, counted: Usage | None = None) -> list[bytes]:
        """message_start with the input and cache counts when the provider sent them first (an
        anthropic provider does; others tell every count at the end, so 0 here), and ping."""
        message = {
            "id": message_id(self.request_id),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_json(replace(counted, output_tokens=0) if counted is not None else Usage()),
        }
        return [event({"type": "message_start", "message": message}), event({"type": "ping"})]

    def __call__(self, ev: StreamEvent) -> list[bytes]:
        out: list[bytes] = []
        if isinstance(ev, StreamDelta):
            if ev.index != 0:  # one answer only (Anthropic's API has no `n`)
                return out
            if ev.thinking is not None:
                self._thinking(out, ev.thinking)
            text = ev.text
            if ev.refusal:
                self.refused = True
                text += ev.refusal
            if text:
                if self.open != "text":
                    self._start(out, "text", {"type": "text", "text": ""})
                out.append(self._delta({"type": "text_delta", "text": text}))
            for d in ev.tool_calls:
                self._tool(out, d.index, d.id, d.name, d.arguments)
        elif isinstance(ev, StreamEnd):
            self._stop(out)
            choice = ev.result.choices[0]
            reason = "refusal" if self.refused else stop_reason(choice)
            out.append(
                event(
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": reason, "stop_sequence": choice.stop_sequence},
                        "usage": usage_json(ev.result.usage),
                    }
                )
            )
            out.append(event({"type": "message_stop"}))
        return out

    def _thinking(self, out: list[bytes], t: ThinkingDelta) -> None:
        key = f"thinking:{t.block}"
        if t.redacted is not None:
            self._start(out, key, {"type": "redacted_thinking", "data": t.redacted})
            return
        if self.open != key:
            self._start(out, key, {"type": "thinking", "thinking": "", "signature": ""})
        if t.text:
            out.append(self._delta({"type": "thinking_delta", "thinking": t.text}))
        if t.signature:
            out.append(self._delta({"type": "signature_delta", "signature": t.signature}))

    def _tool(self, out: list[bytes], index: int, call_id: str | None, name: str | None, arguments: str) -> None:
        key = f"tool:{index}"
        if call_id is not None and index not in self.tool_blocks:
            block = {"type": "tool_use", "id": call_id, "name": name or "", "input": {}}
            self._start(out, key, block)
            self.tool_blocks[index] = self.block
        if not arguments or index not in self.tool_blocks:
            return
        if self.open == key:
            out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
        else:  # a later piece of a call whose block was closed: its own index (the SDK folds by index)
            delta = {"type": "input_json_delta", "partial_json": arguments}
            out.append(event({"type": "content_block_delta", "index": self.tool_blocks[index], "delta": delta}))

    def _start(self, out: list[bytes], key: str, block: dict[str, Any]) -> None:
        self._stop(out)
        self.block += 1
        self.open = key
        out.append(event({"type": "content_block_start", "index": self.block, "content_block": block}))

    def _stop(self, out: list[bytes]) -> None:
        if self.open is not None:
            out.append(event({"type": "content_block_stop", "index": self.block}))
            self.open = None

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return event({"type": "content_block_delta", "index": self.block, "delta": delta})
