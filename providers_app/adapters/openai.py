"""OpenAI Chat Completions adapter: POST {base_url}/chat/completions; any OpenAI-compatible base_url.

On the wire as the `openai` SDK sends it (tests/unit/adapters/test_contract.py):
`Authorization: Bearer <key>`, a JSON body, SSE for streams. The default base URL is
OpenAI's own; unlike the SDK, OPENAI_BASE_URL / OPENAI_API_KEY in the environment are
ignored: only what an admin configured is used.

Usage normalization (so that cost = input*in_price + cache_read*cache_read_price holds for
every provider):
- OpenAI's `prompt_tokens` INCLUDES cached tokens; `prompt_tokens_details.cached_tokens`
  says how many were read from the cache (and `cache_write_tokens`, where a server reports
  it, how many were written to it).
- Anthropic's `input_tokens` EXCLUDES cache reads and writes.
- Usage.input_tokens is always the NON-cached input: here prompt_tokens - cached - written;
  Usage.cache_read_tokens / cache_write_tokens carry the rest.

Streams send `stream_options={"include_usage": true}` so the last chunk carries usage.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from providers_app.errors import UpstreamConnectionError, UpstreamMalformedResponse

from .base import ProviderAdapter
from .body import count, field_of, str_or_none, text_or_empty
from .errors import StatusError
from .sse_decode import aiter_events, drain
from .types import ChatRequest, Choice, Completion, StreamChunk, Usage

PROVIDER = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHAT_PATH = "/chat/completions"


# --- translation ------------------------------------------------------------------------
def max_tokens_field_for(base_url: str | None) -> str:
    # OpenAI's own API wants max_completion_tokens (its reasoning models reject max_tokens);
    # most OpenAI-compatible servers know only max_tokens.
    host = urlsplit(base_url).hostname if base_url else "api.openai.com"
    return "max_completion_tokens" if host == "api.openai.com" else "max_tokens"


def request_params(request: ChatRequest, *, max_tokens_field: str = "max_tokens") -> dict[str, Any]:
    """ChatRequest -> the JSON body of POST /chat/completions (= `chat.completions.create`'s kwargs)."""
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
        choices=[
            Choice(
                text=text_or_empty(message.get("content")),
                finish_reason=str_or_none(choice.get("finish_reason")),
            )
        ],
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
class OpenAIAdapter(ProviderAdapter):
    kind = "openai"
    default_base_url = DEFAULT_BASE_URL

    def __init__(
        self, *, base_url: str | None, api_key: str | None, timeout_s: float, max_tokens_field: str | None = None
    ) -> None:
        super().__init__(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
        self.max_tokens_field = max_tokens_field or max_tokens_field_for(base_url)

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        # A key-less OpenAI-compatible server (vLLM, llama.cpp) gets no Authorization header.
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def complete(self, request: ChatRequest) -> Completion:
        try:
            response = await self._send(
                "POST", CHAT_PATH, request_params(request, max_tokens_field=self.max_tokens_field)
            )
            return completion_from(response.json())
        except Exception as exc:
            raise self._error(exc) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        body = stream_body(request_params(request, max_tokens_field=self.max_tokens_field))
        state = StreamState()
        try:
            response = await self._send("POST", CHAT_PATH, body, stream=True)
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
            raise self._error(exc) from None
        yield final

    async def list_models(self) -> list[str]:
        try:
            body = (await self._send("GET", "/models")).json()
            return [str(model["id"]) for model in body["data"]]
        except Exception as exc:
            raise self._error(exc) from None
