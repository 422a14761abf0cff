"""Ollama adapter (`ollama.AsyncClient`, POST /api/chat, GET /api/tags).

Usage: `prompt_eval_count` (input) and `eval_count` (output); Ollama reports no cache
tokens (it leaves prompt_eval_count out when the whole prompt was cached: that reads as 0).
Ollama has no response id. The SDK has no timeout by default: we always pass one.
Ollama needs no auth; a configured key is sent as `Authorization: Bearer` (for Ollama
behind an authenticating proxy).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import ollama

from aiproxy.errors import UpstreamConnectionError

from .client_adapter import ClientAdapter
from .transport import CONNECT_TIMEOUT_CAP_S
from .types import ChatRequest, Completion, StreamChunk, Usage

PROVIDER = "ollama"


# --- translation ------------------------------------------------------------------------
def request_params(request: ChatRequest) -> dict[str, Any]:
    """ChatRequest -> keyword arguments of `AsyncClient.chat` (without `stream`)."""
    options: dict[str, Any] = {}
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.stop:
        options["stop"] = list(request.stop)
    params: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
    }
    if options:
        params["options"] = options
    return params


def usage_from(response: Any) -> Usage:
    return Usage(input_tokens=response.prompt_eval_count or 0, output_tokens=response.eval_count or 0)


def finish_reason(done_reason: str | None) -> str | None:
    # "stop" and "length" are already OpenAI's words; "load"/"unload" are not answers.
    return done_reason


def completion_from(response: Any) -> Completion:
    return Completion(
        text=response.message.content or "",
        finish_reason=finish_reason(response.done_reason),
        usage=usage_from(response),
        response_id=None,
        model=response.model,
    )


@dataclass
class StreamState:
    done: bool = False
    final: StreamChunk = field(default_factory=StreamChunk)

    def chunk_for(self, part: Any) -> StreamChunk | None:
        if part.done:
            self.done = True
            self.final = StreamChunk(finish_reason=finish_reason(part.done_reason), usage=usage_from(part))
        text = part.message.content if part.message is not None else None
        return StreamChunk(text=text) if text else None

    def final_chunk(self) -> StreamChunk:
        if not self.done:
            raise UpstreamConnectionError(f"{PROVIDER}: stream ended before done=true")
        return self.final


# --- transport ---------------------------------------------------------------------------
class OllamaAdapter(ClientAdapter[ollama.AsyncClient]):
    kind = "ollama"

    def _make_client(self, http_client: Any = None) -> ollama.AsyncClient:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else None
        return ollama.AsyncClient(
            host=self.base_url or "http://localhost:11434",
            timeout=httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, CONNECT_TIMEOUT_CAP_S)),
            headers=headers,
        )

    async def complete(self, request: ChatRequest) -> Completion:
        try:
            response = await self._clients.get().chat(**request_params(request), stream=False)
            return completion_from(response)
        except Exception as exc:
            raise self._error(exc) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        state = StreamState()
        try:
            parts = await self._clients.get().chat(**request_params(request), stream=True)
            try:
                async for part in parts:
                    chunk = state.chunk_for(part)
                    if chunk is not None:
                        yield chunk
            finally:
                # The SDK's generator holds the HTTP response open until it is closed.
                await parts.aclose()
            final = state.final_chunk()
        except Exception as exc:
            raise self._error(exc) from None
        yield final

    async def list_models(self) -> list[str]:
        try:
            listing = await self._clients.get().list()
            return [m.model for m in listing.models if m.model]
        except Exception as exc:
            raise self._error(exc) from None
