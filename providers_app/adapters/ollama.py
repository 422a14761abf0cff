"""Ollama adapter: POST {base_url}/api/chat (NDJSON when streamed), GET /api/tags.

On the wire as the `ollama` SDK sends it (tests/unit/adapters/test_contract.py). Ollama needs
no auth; a configured key is sent as `Authorization: Bearer` (for an Ollama behind an
authenticating proxy). Usage: `prompt_eval_count` (input) and `eval_count` (output); Ollama
reports no cache tokens (it leaves prompt_eval_count out when the whole prompt was cached:
that reads as 0), and has no response id.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from providers_app.errors import UpstreamConnectionError, UpstreamMalformedResponse

from .base import ProviderAdapter
from .body import count, field_of, str_or_none, text_or_empty
from .errors import StatusError
from .ndjson import aiter_lines
from .types import ChatRequest, Choice, Completion, StreamChunk, Usage

PROVIDER = "ollama"
DEFAULT_BASE_URL = "http://localhost:11434"
CHAT_PATH = "/api/chat"


# --- translation ------------------------------------------------------------------------
def request_params(request: ChatRequest) -> dict[str, Any]:
    """ChatRequest -> the JSON body of POST /api/chat (without `stream`)."""
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


def usage_from(body: Any) -> Usage:
    return Usage(
        input_tokens=count(field_of(body, "prompt_eval_count")), output_tokens=count(field_of(body, "eval_count"))
    )


def finish_reason(done_reason: str | None) -> str | None:
    # "stop" and "length" are already OpenAI's words; "load"/"unload" are not answers.
    return done_reason


def part_of(line: bytes) -> dict[str, Any]:
    """One decoded object of a body; `{"error": ...}` raises StatusError (classified by its text)."""
    part = json.loads(line)
    if not isinstance(part, dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response is not a JSON object")
    if part.get("error"):
        raise StatusError(200, None, part)
    return part


def completion_from(body: Any) -> Completion:
    """A /api/chat response body (decoded JSON) -> Completion."""
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response has no message")
    return Completion(
        choices=[
            Choice(
                text=text_or_empty(body["message"].get("content")),
                finish_reason=finish_reason(str_or_none(body.get("done_reason"))),
            )
        ],
        usage=usage_from(body),
        response_id=None,
        model=str_or_none(body.get("model")),
    )


@dataclass
class StreamState:
    done: bool = False
    final: StreamChunk = field(default_factory=StreamChunk)

    def chunk_for(self, part: dict[str, Any]) -> StreamChunk | None:
        if part.get("done"):
            self.done = True
            self.final = StreamChunk(
                finish_reason=finish_reason(str_or_none(part.get("done_reason"))), usage=usage_from(part)
            )
        text = str_or_none(field_of(part.get("message"), "content"))
        return StreamChunk(text=text) if text else None

    def final_chunk(self) -> StreamChunk:
        if not self.done:
            raise UpstreamConnectionError(f"{PROVIDER}: stream ended before done=true")
        return self.final


# --- transport ---------------------------------------------------------------------------
class OllamaAdapter(ProviderAdapter):
    kind = "ollama"
    default_base_url = DEFAULT_BASE_URL

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def complete(self, request: ChatRequest) -> Completion:
        try:
            response = await self._send("POST", CHAT_PATH, {**request_params(request), "stream": False})
            return completion_from(part_of(response.content))
        except Exception as exc:
            raise self._error(exc) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        state = StreamState()
        try:
            response = await self._send("POST", CHAT_PATH, {**request_params(request), "stream": True}, stream=True)
            try:
                async for line in aiter_lines(response.aiter_bytes()):
                    chunk = state.chunk_for(part_of(line))
                    if chunk is not None:
                        yield chunk
            finally:
                await response.aclose()  # also when our consumer stops early
            final = state.final_chunk()
        except Exception as exc:
            raise self._error(exc) from None
        yield final

    async def list_models(self) -> list[str]:
        try:
            body = (await self._send("GET", "/api/tags")).json()
            return [str(m["model"]) for m in body["models"] if m.get("model")]
        except Exception as exc:
            raise self._error(exc) from None
