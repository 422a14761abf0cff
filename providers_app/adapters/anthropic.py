"""Anthropic Messages API adapter (`anthropic.AsyncAnthropic`).

Translation (pure functions, first half) is kept apart from transport (the adapter class).
Usage: Anthropic's `input_tokens` already EXCLUDES cached tokens; cache reads and cache
writes come as `cache_read_input_tokens` / `cache_creation_input_tokens`. They map 1:1 to
Usage.input_tokens / cache_read_tokens / cache_write_tokens (see openai.py for the other side).
Auth: anthropic 2.x sends the key as `Authorization: Bearer`, plus `anthropic-version`.
Both calls go through the SDK client's own `post()` with the prebuilt body (or, on the direct
transport, send it with the URL and headers the SDK built: direct.py) and take the raw HTTP
response: the JSON (and a stream's SSE framing, sse_decode.py) is read here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiproxy.errors import UpstreamConnectionError, UpstreamMalformedResponse

from .body import count, field_of, json_body, str_or_none, text_or_empty
from .client_adapter import ClientAdapter
from .errors import StatusError
from .sse_decode import aiter_events, drain
from .transport import DEFAULT_TRANSPORT
from .types import ChatRequest, Completion, StreamChunk, Usage

if TYPE_CHECKING:
    import anthropic

PROVIDER = "anthropic"


@functools.cache
def request_options() -> dict[str, Any]:
    """What `messages.create` passes besides the body (its tracing span; no extra headers).
    Built on first use: a `serve` process on the direct transport never loads the SDK."""
    from anthropic._base_client import make_request_options
    from anthropic.lib._tracing import messages_create_request_attributes

    return dict(
        make_request_options(
            span_name="anthropic.messages.create",
            span_route="/v1/messages",
            span_attributes=messages_create_request_attributes,
        )
    )


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
    """ChatRequest -> keyword arguments of `messages.create` (together: the JSON body)."""
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
    # anthropic>=1.0 dropped temperature/top_p from the typed signature (the API still takes
    # them, though models after Opus 4.6 reject non-default values): send them as extra body
    # fields, and only when the client set them.
    sampling = {"temperature": request.temperature, "top_p": request.top_p}
    sampling = {k: v for k, v in sampling.items() if v is not None}
    if sampling:
        params["extra_body"] = sampling
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
        text=text,
        finish_reason=finish_reason(str_or_none(body.get("stop_reason"))),
        usage=usage_from(usage),
        response_id=str_or_none(body.get("id")),
        model=str_or_none(body.get("model")),
    )


def request_body(params: dict[str, Any]) -> dict[str, Any]:
    """`request_params` as the JSON body on the wire: `extra_body` merged in, as the SDK does."""
    extra = params.get("extra_body")
    if extra is None:
        return params
    body = {k: v for k, v in params.items() if k != "extra_body"}
    body.update(extra)
    return body


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

    def chunk_for(self, event: dict[str, Any]) -> StreamChunk | None:
        """One decoded event (by its JSON `type`, as the SDK reads it). An event of the wrong
        shape raises AttributeError / TypeError (classified as malformed)."""
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta")
            if delta.get("type") == "text_delta":
                return StreamChunk(text=text_or_empty(delta.get("text")), response_id=self.response_id)
        elif kind == "message_start":
            message = event.get("message")
            self.response_id = str_or_none(message.get("id"))
            self.usage = usage_from(message.get("usage"))
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
class AnthropicAdapter(ClientAdapter["anthropic.AsyncAnthropic"]):
    kind = "anthropic"
    chat_path = "/v1/messages"

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout_s: float,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        transport: str = DEFAULT_TRANSPORT,
    ) -> None:
        super().__init__(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
        self.default_max_tokens = default_max_tokens
        self._set_transport(transport)

    @property
    def request_options(self) -> dict[str, Any]:  # type: ignore[override]
        return request_options()

    def _make_client(self, http_client: Any = None) -> anthropic.AsyncAnthropic:
        import anthropic  # here: a `serve` process on the direct transport never loads the SDK (capture.py)

        return anthropic.AsyncAnthropic(**self._sdk_kwargs(anthropic.DefaultAioHttpClient, http_client))

    async def complete(self, request: ChatRequest) -> Completion:
        params = request_params(request, default_max_tokens=self.default_max_tokens)
        try:
            # The SDK's own request path (auth, anthropic-version, base URL, timeouts, error classes,
            # transport) without `create`'s response models: see OpenAIAdapter.complete.
            response = await self._post(self.chat_path, request_body(params))
            return completion_from(json_body(response))
        except Exception as exc:
            # `from None`: SDK exception texts embed whole response bodies; ours are scrubbed.
            raise self._error(exc) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        body = {**request_body(request_params(request, default_max_tokens=self.default_max_tokens)), "stream": True}
        state = StreamState()
        try:
            # As complete(), with stream=True: the SDK raises its status errors (body read) and
            # otherwise returns the response unread; we decode the SSE frames instead of the SDK
            # building an event model per frame.
            response = await self._post(self.chat_path, body, stream=True)
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
            # `from None`: SDK exception texts embed whole response bodies; ours are scrubbed.
            raise self._error(exc) from None
        yield final

    async def list_models(self) -> list[str]:
        try:
            return [model.id async for model in self._clients.get().models.list()]
        except Exception as exc:
            raise self._error(exc) from None
