"""Anthropic Messages API adapter: POST {base_url}/v1/messages.

On the wire as the `anthropic` SDK sends it (tests/unit/adapters/test_contract.py): the key
as `Authorization: Bearer` (anthropic 2.x), `anthropic-version` the SDK's own, a JSON body,
SSE for streams. ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY in the environment are ignored.
Translation (pure functions, first half) is kept apart from sending (the adapter class).
Usage: Anthropic's `input_tokens` already EXCLUDES cached tokens; cache reads and cache
writes come as `cache_read_input_tokens` / `cache_creation_input_tokens`. They map 1:1 to
Usage.input_tokens / cache_read_tokens / cache_write_tokens (see openai.py for the other side).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from providers_app.errors import UpstreamConnectionError, UpstreamMalformedResponse

from .base import ProviderAdapter
from .body import count, field_of, str_or_none, text_or_empty
from .errors import StatusError
from .sse_decode import aiter_events, drain
from .types import ChatRequest, Choice, Completion, StreamChunk, Usage

PROVIDER = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
MESSAGES_PATH = "/v1/messages"
# The version the pinned SDK sends (anthropic 2.14.0); test_contract.py fails when they part.
ANTHROPIC_VERSION = "2026-10-21"


DEFAULT_MAX_TOKENS = 1024  # Anthropic requires max_tokens; used when neither request nor settings say

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


# --- translation ------------------------------------------------------------------------
def finish_reason(stop_reason: str | None) -> str | None:
    """Anthropic stop_reason -> OpenAI-style finish_reason (unknown ones pass through)."""
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(stop_reason, stop_reason)


def request_params(request: ChatRequest, *, default_max_tokens: int) -> dict[str, Any]:
    """ChatRequest -> the JSON body of POST /v1/messages."""
    # The Messages API has no system role: system messages go to the top-level `system`.
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    params: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"],
        "max_tokens": request.max_tokens if request.max_tokens is not None else default_max_tokens,
    }
    if system:
        params["system"] = system
    if request.stop:
        params["stop_sequences"] = list(request.stop)
    # Only when the client set them: models after Opus 4.6 reject non-default values (and
    # the SDK's typed signature no longer has them).
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.top_p is not None:
        params["top_p"] = request.top_p
    if request.user:
        params["metadata"] = {"user_id": request.user}
    return params


def usage_from(usage: Any) -> Usage:
    """`usage` of a response body or of a stream event (decoded JSON) -> Usage."""
    return Usage(
        input_tokens=count(field_of(usage, "input_tokens")),
        output_tokens=count(field_of(usage, "output_tokens")),
        cache_read_tokens=count(field_of(usage, "cache_read_input_tokens")),
        cache_write_tokens=count(field_of(usage, "cache_creation_input_tokens")),
    )


def completion_from(body: Any) -> Completion:
    """A Messages API response body (decoded JSON) -> Completion.

    Raises UpstreamMalformedResponse on a body of the wrong shape."""
    if not isinstance(body, dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response is not a JSON object")
    content, usage = body.get("content"), body.get("usage")
    if not isinstance(content, list) or not isinstance(usage, dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response has no content or usage")
    text = "".join(
        text_or_empty(block.get("text")) for block in content if isinstance(block, dict) and block.get("type") == "text"
    )
    return Completion(
        choices=[
            Choice(
                text=text,
                finish_reason=finish_reason(str_or_none(body.get("stop_reason"))),
            )
        ],
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
    """Folds the decoded event stream; `chunk_for` returns a text chunk or None."""

    response_id: str | None = None
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None
    done: bool = False
    counted: Usage | None = None  # message_start's counts, until a chunk carries them (StreamChunk.counted)

    def chunk_for(self, event: dict[str, Any]) -> StreamChunk | None:
        """One decoded event (by its JSON `type`, as the SDK reads it). An event of the wrong
        shape raises AttributeError / TypeError (classified as malformed)."""
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta")
            if delta.get("type") == "text_delta":
                chunk = StreamChunk(text=text_or_empty(delta.get("text")), response_id=self.response_id)
                chunk.counted, self.counted = self.counted, None
                return chunk
        elif kind == "message_start":
            message = event.get("message")
            self.response_id = str_or_none(message.get("id"))
            self.usage = usage_from(message.get("usage"))
            self.counted = replace(self.usage)
        elif kind == "message_delta":
            self.stop_reason = str_or_none(field_of(event.get("delta"), "stop_reason"))
            delta = event.get("usage")
            # output_tokens is cumulative; the others appear here only when they changed.
            self.usage.output_tokens = count(field_of(delta, "output_tokens"))
            if (tokens := field_of(delta, "input_tokens")) is not None:
                self.usage.input_tokens = count(tokens)
            if (tokens := field_of(delta, "cache_read_input_tokens")) is not None:
                self.usage.cache_read_tokens = count(tokens)
            if (tokens := field_of(delta, "cache_creation_input_tokens")) is not None:
                self.usage.cache_write_tokens = count(tokens)
        elif kind == "message_stop":
            self.done = True
        return None

    def final_chunk(self) -> StreamChunk:
        if not self.done:
            # The body ended cleanly but without message_stop: the answer is cut short.
            raise UpstreamConnectionError(f"{PROVIDER}: stream ended before message_stop")
        return StreamChunk(
            finish_reason=finish_reason(self.stop_reason), usage=self.usage, response_id=self.response_id
        )


# --- transport ---------------------------------------------------------------------------
class AnthropicAdapter(ProviderAdapter):
    kind = "anthropic"
    default_base_url = DEFAULT_BASE_URL

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout_s: float,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        super().__init__(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
        self.default_max_tokens = default_max_tokens

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    async def complete(self, request: ChatRequest) -> Completion:
        try:
            body = request_params(request, default_max_tokens=self.default_max_tokens)
            return completion_from((await self._send("POST", MESSAGES_PATH, body)).json())
        except Exception as exc:
            raise self._error(exc) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        body = {**request_params(request, default_max_tokens=self.default_max_tokens), "stream": True}
        state = StreamState()
        try:
            response = await self._send("POST", MESSAGES_PATH, body, stream=True)
            try:
                events = aiter_events(response.aiter_bytes())
                async for event in events:
                    name = event.event
                    # Skipped as by the SDK: keep-alives, and events without a name or data.
                    if name is None or name == "ping":
                        continue
                    if name == "error":
                        raise stream_error(event.data)
                    if not event.data:
                        continue
                    chunk = state.chunk_for(json.loads(event.data))
                    if chunk is not None:
                        yield chunk
                    elif state.done:
                        await drain(events)
                        break
            finally:
                await response.aclose()  # also when our consumer stops early
            final = state.final_chunk()
        except Exception as exc:
            raise self._error(exc) from None
        yield final

    async def list_models(self) -> list[str]:
        try:
            body = (await self._send("GET", "/v1/models")).json()
            return [str(model["id"]) for model in body["data"]]
        except Exception as exc:
            raise self._error(exc) from None
