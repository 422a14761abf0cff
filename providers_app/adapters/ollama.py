"""Ollama adapter: POST {base_url}/api/chat (NDJSON when streamed), GET /api/tags, and
POST /api/embed for embeddings (translation in ollama_embed.py).

On the wire as the `ollama` SDK sends it (tests/unit/adapters/test_contract.py and
test_contract_ollama_tools.py); the request's translation, and what Ollama cannot be asked,
are in ollama_request.py. Ollama needs no auth; a configured key is sent as `Authorization:
Bearer` (for an Ollama behind an authenticating proxy). `user` has no place in Ollama's API:
it stays on the gateway's record only (CompletionRecord.end_user).

The answer: `message.content` is the text; `message.tool_calls` (whole calls, arguments as
an object) become tool calls with the arguments as JSON text, and Ollama's own call id when
it sends one, else a stable one made here (`call_<index>_<hash>`); an answer with tool calls
finishes with "tool_calls" (Ollama says "stop"). A stream carries each call whole in one line:
it becomes one ToolCallDelta (id, name, all the arguments), indexes counting across the
stream. `message.thinking` (a thinking model's reasoning, with `think`) is not the answer and
is left out; its tokens are in `eval_count`, which Ollama does not split. `logprobs` (a list of
tokens) become OpenAI's `{"content": [...]}`. Usage: `prompt_eval_count` (input) and
`eval_count` (output); Ollama reports no cache tokens (it leaves prompt_eval_count out when
the whole prompt was cached: that reads as 0), and has no response id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from providers_app.errors import InvalidRequest, UpstreamConnectionError, UpstreamMalformedResponse

from .base import ProviderAdapter
from .body import count, field_of, str_or_none, text_or_empty
from .errors import StatusError
from .ndjson import aiter_lines
from .ollama_embed import EMBED_PATH, embed_params, embeddings_from
from .ollama_request import refusal_of, request_params
from .types import (
    ChatRequest,
    Choice,
    Completion,
    EmbeddingRequest,
    Embeddings,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)

PROVIDER = "ollama"
DEFAULT_BASE_URL = "http://localhost:11434"
CHAT_PATH = "/api/chat"


# --- the answer ----------------------------------------------------------------------------
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


def call_id(index: int, name: str, arguments: str) -> str:
    """An id for a call Ollama sent without one: the same call at the same place of an
    answer gets the same id (a cached answer replays it unchanged)."""
    digest = hashlib.blake2s(f"{name}\0{arguments}".encode(), digest_size=6).hexdigest()
    return f"call_{index}_{digest}"


def tool_calls_from(raw: Any, start: int = 0) -> tuple[ToolCall, ...]:
    """`message.tool_calls` -> ToolCalls, numbered from `start` (their place in the answer)."""
    if not raw:
        return ()
    if not isinstance(raw, list):
        raise TypeError("tool_calls is not a list")
    out = []
    for index, call in enumerate(raw, start):
        function = call["function"]
        name = function["name"]
        if not isinstance(name, str):
            raise TypeError("a tool call's name is not a string")
        args = function.get("arguments")
        if isinstance(args, dict):
            arguments = json.dumps(args, ensure_ascii=False)
        elif isinstance(args, str):  # not Ollama's shape today, but already JSON text
            arguments = args
        elif args is None:
            arguments = "{}"
        else:
            raise TypeError("a tool call's arguments are not an object")
        out.append(
            ToolCall(id=str_or_none(call.get("id")) or call_id(index, name, arguments), name=name, arguments=arguments)
        )
    return tuple(out)


def _token(entry: Any, top: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"token": entry["token"], "logprob": entry["logprob"], "bytes": entry.get("bytes")}
    if top:
        item["top_logprobs"] = [_token(t, False) for t in entry.get("top_logprobs") or ()]
    return item


def logprobs_from(raw: Any) -> dict[str, Any] | None:
    """Ollama's `logprobs` (a list of tokens) -> OpenAI's logprobs object."""
    if not raw:
        return None
    return {"content": [_token(entry, True) for entry in raw]}


def completion_from(body: Any) -> Completion:
    """A /api/chat response body (decoded JSON) -> Completion."""
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise UpstreamMalformedResponse(f"{PROVIDER}: response has no message")
    message = body["message"]
    calls = tool_calls_from(message.get("tool_calls"))
    return Completion(
        choices=[
            Choice(
                text=text_or_empty(message.get("content")),
                finish_reason="tool_calls" if calls else finish_reason(str_or_none(body.get("done_reason"))),
                tool_calls=calls,
                logprobs=logprobs_from(body.get("logprobs")),
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
    calls: int = 0  # tool calls so far: the next one's index

    def chunk_for(self, part: dict[str, Any]) -> StreamChunk | None:
        message = part.get("message")
        text = str_or_none(field_of(message, "content"))
        raw_calls = field_of(message, "tool_calls")
        deltas: tuple[ToolCallDelta, ...] = ()
        if raw_calls:  # whole calls: one delta each, with everything
            first = self.calls
            calls = tool_calls_from(raw_calls, first)
            self.calls += len(calls)
            deltas = tuple(
                ToolCallDelta(index=i, id=c.id, name=c.name, arguments=c.arguments) for i, c in enumerate(calls, first)
            )
        if part.get("done"):
            self.done = True
            self.final = StreamChunk(
                finish_reason="tool_calls" if self.calls else finish_reason(str_or_none(part.get("done_reason"))),
                usage=usage_from(part),
            )
        raw_logprobs = part.get("logprobs")
        if not (text or deltas or raw_logprobs):
            return None
        return StreamChunk(text=text or "", tool_calls=deltas, logprobs=logprobs_from(raw_logprobs))

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

    @classmethod
    def refusal(cls, request: ChatRequest) -> InvalidRequest | None:
        return refusal_of(request)

    async def complete(self, request: ChatRequest) -> Completion:
        params = request_params(request)  # outside the try: a refusal is the client's error, not upstream's
        try:
            response = await self._send("POST", CHAT_PATH, {**params, "stream": False})
            return completion_from(part_of(response.content))
        except Exception as exc:
            raise self._error(exc) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        state = StreamState()
        params = request_params(request)
        try:
            response = await self._send("POST", CHAT_PATH, {**params, "stream": True}, stream=True)
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

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        try:
            response = await self._send("POST", EMBED_PATH, embed_params(request))
            return embeddings_from(part_of(response.content), request)
        except Exception as exc:
            raise self._error(exc) from None

    async def list_models(self) -> list[str]:
        try:
            body = (await self._send("GET", "/api/tags")).json()
            return [str(m["model"]) for m in body["models"] if m.get("model")]
        except Exception as exc:
            raise self._error(exc) from None
