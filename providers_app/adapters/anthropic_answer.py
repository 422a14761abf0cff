"""Anthropic's answers -> Completion / StreamChunk (the answer half of anthropic.py).

`tool_use` blocks become tool calls (arguments: the input as JSON text), text blocks are
joined, stop_reason `tool_use` is finish_reason "tool_calls". In a stream, each tool_use
block's content_block_start is the first ToolCallDelta of its call (index: its position
among the tool_use blocks; id, name) and each input_json_delta an argument fragment.
When JSON output was sent as a forced tool (anthropic_request.json_tool_name), that tool's
input IS the answer: it becomes the text (streamed: text deltas) and the finish is "stop".
`thinking` / `redacted_thinking` blocks are kept whole, in order (Choice.thinking; streamed as
ThinkingDelta pieces: thinking_delta text, signature_delta, a redacted block's data), for the
Messages API's answer and the client's next turn; the Chat Completions answer has no place
for them. Usage: Anthropic's `input_tokens` already EXCLUDES cached tokens; cache reads and writes
come as `cache_read_input_tokens` / `cache_creation_input_tokens`, mapped 1:1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from providers_app.errors import UpstreamConnectionError, UpstreamMalformedResponse

from .body import count, field_of, str_or_none, text_or_empty
from .errors import StatusError
from .types import Choice, Completion, StreamChunk, Thinking, ThinkingDelta, ToolCall, ToolCallDelta, Usage

PROVIDER = "anthropic"

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None, *, json_tool: str | None = None) -> str | None:
    """Anthropic stop_reason -> OpenAI-style finish_reason (unknown ones pass through)."""
    if stop_reason is None:
        return None
    if json_tool is not None and stop_reason == "tool_use":
        return "stop"  # the forced JSON tool: its input is the answer, not a call to make
    return FINISH_REASONS.get(stop_reason, stop_reason)


def usage_from(usage: Any) -> Usage:
    """`usage` of a response body or of a stream event (decoded JSON) -> Usage."""
    return Usage(
        input_tokens=count(field_of(usage, "input_tokens")),
        output_tokens=count(field_of(usage, "output_tokens")),
        cache_read_tokens=count(field_of(usage, "cache_read_input_tokens")),
        cache_write_tokens=count(field_of(usage, "cache_creation_input_tokens")),
        cache_write_1h_tokens=cache_write_1h(usage),
    )


def cache_write_1h(usage: Any) -> int:
    """Of the cache writes, those with ttl "1h" (`cache_creation.ephemeral_1h_input_tokens`),
    priced apart; 0 when the split is absent (every write then is a 5-minute one)."""
    return count(field_of(field_of(usage, "cache_creation"), "ephemeral_1h_input_tokens"))


def completion_from(body: Any, *, json_tool: str | None = None) -> Completion:
    """A Messages API response body (decoded JSON) -> Completion.

    Raises UpstreamMalformedResponse on a body of the wrong shape."""
    if not isinstance(body, dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response is not a JSON object")
    content, usage = body.get("content"), body.get("usage")
    if not isinstance(content, list) or not isinstance(usage, dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response has no content or usage")
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[Thinking] = []
    for block in content:
        kind = field_of(block, "type")
        if kind == "thinking":
            thinking.append(Thinking(text_or_empty(block.get("thinking")), text_or_empty(block.get("signature"))))
        elif kind == "redacted_thinking":
            thinking.append(Thinking(redacted=text_or_empty(block.get("data"))))
        elif kind == "text" and json_tool is None:
            texts.append(text_or_empty(block.get("text")))
        elif kind == "tool_use":
            arguments = json.dumps(block["input"])
            if json_tool is not None:
                texts.append(arguments)
            else:
                calls.append(ToolCall(id=str(block["id"]), name=str(block["name"]), arguments=arguments))
    choice = Choice(
        text="".join(texts),
        finish_reason=finish_reason(str_or_none(body.get("stop_reason")), json_tool=json_tool),
        tool_calls=tuple(calls),
        thinking=tuple(thinking),
        stop_sequence=str_or_none(body.get("stop_sequence")),
    )
    return Completion(
        choices=[choice],
        usage=usage_from(usage),
        response_id=str_or_none(body.get("id")),
        model=str_or_none(body.get("model")),
    )


def stream_error(data: str) -> StatusError:
    """An `event: error` frame inside a 200 stream (where the SDK's stream raises APIStatusError):
    errors.classify maps its body's `error.type` (e.g. overloaded_error -> 529)."""
    return StatusError.of_content(200, None, data)


@dataclass
class StreamState:
    """Folds the decoded event stream; `chunk_for` returns a chunk to yield, or None."""

    json_tool: str | None = None  # the forced JSON tool: its input is streamed as text
    response_id: str | None = None
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    done: bool = False
    counted: Usage | None = None  # message_start's counts, until a chunk carries them (StreamChunk.counted)
    # content block index -> [tool call index, whether any argument text was sent]
    tool_blocks: dict[int, list[Any]] = field(default_factory=dict)
    thinking_blocks: dict[int, int] = field(default_factory=dict)  # content block index -> thinking block

    def chunk_for(self, event: dict[str, Any]) -> StreamChunk | None:
        """One decoded event (by its JSON `type`, as the SDK reads it). An event of the wrong
        shape raises AttributeError / TypeError / KeyError (classified as malformed)."""
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta")
            kind = delta.get("type")
            if kind == "text_delta":
                if self.json_tool is not None:
                    return None  # a forced tool answers in its input only
                return self._chunk(StreamChunk(text=text_or_empty(delta.get("text"))))
            if kind == "input_json_delta":
                return self._fragment(event["index"], text_or_empty(delta.get("partial_json")))
            if kind == "thinking_delta":
                return self._thinking(event["index"], text=text_or_empty(delta.get("thinking")))
            if kind == "signature_delta":
                return self._thinking(event["index"], signature=text_or_empty(delta.get("signature")))
        elif kind == "content_block_start":
            block = event.get("content_block")
            block_type = block.get("type")
            if block_type == "tool_use":
                return self._tool_start(event["index"], block)
            if block_type == "thinking":
                self.thinking_blocks[event["index"]] = len(self.thinking_blocks)
            elif block_type == "redacted_thinking":
                self.thinking_blocks[event["index"]] = len(self.thinking_blocks)
                return self._thinking(event["index"], redacted=text_or_empty(block.get("data")))
        elif kind == "content_block_stop":
            tool = self.tool_blocks.get(event.get("index"))
            if tool is not None and not tool[1]:
                return self._fragment(event["index"], "{}")  # a call without arguments: still JSON
        elif kind == "message_start":
            message = event.get("message")
            self.response_id = str_or_none(message.get("id"))
            self.usage = usage_from(message.get("usage"))
            self.counted = replace(self.usage)
        elif kind == "message_delta":
            self.stop_reason = str_or_none(field_of(event.get("delta"), "stop_reason"))
            self.stop_sequence = str_or_none(field_of(event.get("delta"), "stop_sequence"))
            delta = event.get("usage")
            # output_tokens is cumulative; the others appear here only when they changed.
            self.usage.output_tokens = count(field_of(delta, "output_tokens"))
            if (tokens := field_of(delta, "input_tokens")) is not None:
                self.usage.input_tokens = count(tokens)
            if (tokens := field_of(delta, "cache_read_input_tokens")) is not None:
                self.usage.cache_read_tokens = count(tokens)
            if (tokens := field_of(delta, "cache_creation_input_tokens")) is not None:
                self.usage.cache_write_tokens = count(tokens)
            if field_of(delta, "cache_creation") is not None:
                self.usage.cache_write_1h_tokens = cache_write_1h(delta)
        elif kind == "message_stop":
            self.done = True
        return None

    def _chunk(self, chunk: StreamChunk) -> StreamChunk:
        chunk.response_id = self.response_id
        chunk.counted, self.counted = self.counted, None
        return chunk

    def _thinking(
        self, block_index: int, *, text: str = "", signature: str = "", redacted: str | None = None
    ) -> StreamChunk | None:
        number = self.thinking_blocks.get(block_index)
        if number is None or not (text or signature or redacted is not None):
            return None
        return self._chunk(StreamChunk(thinking=ThinkingDelta(number, text, signature, redacted)))

    def _tool_start(self, block_index: int, block: dict[str, Any]) -> StreamChunk | None:
        self.tool_blocks[block_index] = [len(self.tool_blocks), False]
        if self.json_tool is not None:
            return None
        call = ToolCallDelta(index=self.tool_blocks[block_index][0], id=str(block["id"]), name=str(block["name"]))
        return self._chunk(StreamChunk(tool_calls=(call,)))

    def _fragment(self, block_index: int, fragment: str) -> StreamChunk | None:
        tool = self.tool_blocks.get(block_index)
        if tool is None or not fragment:  # None: a block that is not a tool_use (a server tool's)
            return None
        tool[1] = True
        if self.json_tool is not None:
            return self._chunk(StreamChunk(text=fragment))
        return self._chunk(StreamChunk(tool_calls=(ToolCallDelta(index=tool[0], arguments=fragment),)))

    def final_chunk(self) -> StreamChunk:
        if not self.done:
            # The body ended cleanly but without message_stop: the answer is cut short.
            raise UpstreamConnectionError(f"{PROVIDER}: stream ended before message_stop")
        return StreamChunk(
            finish_reason=finish_reason(self.stop_reason, json_tool=self.json_tool),
            usage=self.usage,
            response_id=self.response_id,
            stop_sequence=self.stop_sequence,
        )
