"""OpenAI Chat Completions adapter (`openai.AsyncOpenAI`); any OpenAI-compatible base_url.

Usage normalization (so that cost = input*in_price + cache_read*cache_read_price holds for
every provider):
- OpenAI's `prompt_tokens` INCLUDES cached tokens; `prompt_tokens_details.cached_tokens`
  says how many were read from the cache (and `cache_write_tokens`, where a server reports
  it, how many were written to it).
- Anthropic's `input_tokens` EXCLUDES cache reads and writes.
- Usage.input_tokens is always the NON-cached input: here prompt_tokens - cached - written;
  Usage.cache_read_tokens / cache_write_tokens carry the rest.

Streams send `stream_options={"include_usage": true}` so the last chunk carries usage.
Both calls go through the SDK client's own `post()` with the prebuilt body (or, on the direct
transport, send it with the URL and headers the SDK built: direct.py) and take the raw HTTP
response: the JSON (and a stream's SSE framing, sse_decode.py) is read here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiproxy.errors import UpstreamConnectionError, UpstreamMalformedResponse

from .body import count, field_of, json_body, str_or_none, text_or_empty
from .client_adapter import ClientAdapter
from .errors import StatusError
from .sse_decode import aiter_events, drain
from .transport import DEFAULT_TRANSPORT
from .types import ChatRequest, Completion, StreamChunk, Usage

if TYPE_CHECKING:
    import openai

PROVIDER = "openai"
# What `chat.completions.create` passes: bearer auth only (not the admin key).
REQUEST_OPTIONS: dict[str, Any] = {"security": {"bearer_auth": True}}


# --- translation ------------------------------------------------------------------------
def max_tokens_field_for(base_url: str | None) -> str:
    # OpenAI's own API wants max_completion_tokens (its reasoning models reject max_tokens);
    # most OpenAI-compatible servers know only max_tokens.
    host = urlsplit(base_url).hostname if base_url else "api.openai.com"
    return "max_completion_tokens" if host == "api.openai.com" else "max_tokens"


def request_params(request: ChatRequest, *, max_tokens_field: str = "max_tokens") -> dict[str, Any]:
    """ChatRequest -> the JSON body of POST /chat/completions (also `chat.completions.create`'s kwargs)."""
    params: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
    }
    if request.max_tokens is not None:
        params[max_tokens_field] = request.max_tokens
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.top_p is not None:
        params["top_p"] = request.top_p
    if request.stop:
        params["stop"] = list(request.stop)
    if request.user:
        params["user"] = request.user
    return params


def usage_from(usage: Any) -> Usage:
    """`usage` of a response body or of a stream chunk (decoded JSON) -> Usage."""
    details = field_of(usage, "prompt_tokens_details")
    cached = count(field_of(details, "cached_tokens")) if details is not None else 0
    written = count(field_of(details, "cache_write_tokens")) if details is not None else 0
    return Usage(
        input_tokens=max(0, count(field_of(usage, "prompt_tokens")) - cached - written),
        output_tokens=count(field_of(usage, "completion_tokens")),
        cache_read_tokens=cached,
        cache_write_tokens=written,
    )


def completion_from(body: Any) -> Completion:
    """A Chat Completions response body (decoded JSON) -> Completion.

    Raises UpstreamMalformedResponse on a body of the wrong shape."""
    if not isinstance(body, dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response is not a JSON object")
    choices = body.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: choice has no message")
    usage = body.get("usage")
    return Completion(
        text=text_or_empty(message.get("content")),
        finish_reason=str_or_none(choice.get("finish_reason")),
        usage=usage_from(usage) if usage is not None else Usage(),
        response_id=str_or_none(body.get("id")),
        model=str_or_none(body.get("model")),
    )


def stream_body(params: dict[str, Any]) -> dict[str, Any]:
    """`request_params` as the body of a streamed call: asks for the final usage chunk."""
    return {**params, "stream": True, "stream_options": {"include_usage": True}}


def chunk_of(data: str) -> Any:
    """The decoded JSON of one `data:` payload; an `{"error": ...}` payload raises StatusError
    (where the SDK's stream raises APIError), which errors.classify maps by the error's type."""
    chunk = json.loads(data)
    if isinstance(chunk, dict) and chunk.get("error"):
        raise StatusError(200, None, chunk["error"])
    return chunk


@dataclass
class StreamState:
    response_id: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None

    def chunk_for(self, chunk: dict[str, Any]) -> StreamChunk | None:
        """One decoded `chat.completion.chunk` -> a text chunk, or None. A chunk of the wrong
        shape raises AttributeError / TypeError / IndexError (classified as malformed)."""
        self.response_id = self.response_id or str_or_none(chunk.get("id"))
        usage = chunk.get("usage")
        if usage is not None:  # the include_usage chunk (its `choices` is empty)
            self.usage = usage_from(usage)
        choices = chunk.get("choices")
        if not choices:
            return None
        choice = choices[0]
        finish = choice.get("finish_reason")
        if finish is not None:
            self.finish_reason = str_or_none(finish)
        delta = choice.get("delta")
        text = str_or_none(delta.get("content")) if delta is not None else None
        return StreamChunk(text=text, response_id=self.response_id) if text else None

    def final_chunk(self) -> StreamChunk:
        if self.finish_reason is None:
            # A body that ends (with or without [DONE]) before any finish_reason was cut
            # short, and must not pass for a complete answer.
            raise UpstreamConnectionError(f"{PROVIDER}: stream ended without a finish_reason")
        extra = {} if self.usage is not None else {"usage_missing": True}  # server ignored include_usage
        return StreamChunk(
            finish_reason=self.finish_reason, usage=self.usage or Usage(), response_id=self.response_id, extra=extra
        )


# --- transport ---------------------------------------------------------------------------
class OpenAIAdapter(ClientAdapter["openai.AsyncOpenAI"]):
    kind = "openai"
    chat_path = "/chat/completions"
    request_options = REQUEST_OPTIONS

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout_s: float,
        transport: str = DEFAULT_TRANSPORT,
        max_tokens_field: str | None = None,
    ) -> None:
        super().__init__(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
        self._set_transport(transport)
        self.max_tokens_field = max_tokens_field or max_tokens_field_for(base_url)

    def _make_client(self, http_client: Any = None) -> openai.AsyncOpenAI:
        import openai  # here: a `serve` process on the direct transport never loads the SDK (capture.py)

        return openai.AsyncOpenAI(**self._sdk_kwargs(openai.DefaultAioHttpClient, http_client))

    async def complete(self, request: ChatRequest) -> Completion:
        params = request_params(request, max_tokens_field=self.max_tokens_field)
        try:
            # The SDK's own request path (auth, base URL, timeouts, error classes, transport; on the
            # direct transport its URL and headers: direct.py), minus `create`'s walk of the params'
            # type annotations and its response models: the body is already plain JSON, and the
            # read response comes back as is.
            response = await self._post(self.chat_path, params)
            return completion_from(json_body(response))
        except Exception as exc:
            # `from None`: SDK exception texts embed whole response bodies; ours are scrubbed.
            raise self._error(exc) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        body = stream_body(request_params(request, max_tokens_field=self.max_tokens_field))
        state = StreamState()
        try:
            # As complete(), with stream=True: the SDK raises its status errors (body read) and
            # otherwise returns the response unread; we decode the SSE frames instead of the SDK
            # building a ChatCompletionChunk model per frame.
            response = await self._post(self.chat_path, body, stream=True)
            try:
                events = aiter_events(response.aiter_bytes())
                async for event in events:
                    if event.data.startswith("[DONE]"):
                        await drain(events)
                        break
                    if event.data:  # an event without data (not OpenAI's own) carries nothing
                        out = state.chunk_for(chunk_of(event.data))
                        if out is not None:
                            yield out
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
