"""OpenAI Chat Completions adapter: POST {base_url}/chat/completions; any OpenAI-compatible base_url.

On the wire as the `openai` SDK sends it (tests/unit/adapters/test_contract.py and
test_contract_openai_tools.py): `Authorization: Bearer <key>`, a JSON body, SSE for
streams. The default base URL is OpenAI's own; unlike the SDK, OPENAI_BASE_URL /
OPENAI_API_KEY in the environment are ignored: only what an admin configured is used.

Translation lives in openai_request.py (ChatRequest -> body) and openai_answer.py (body and
stream chunks -> Completion / StreamChunk, usage normalization); embeddings (POST
{base_url}/embeddings) in openai_embed.py. Streams send
`stream_options={"include_usage": true}` so the last chunk carries usage.

Refusals (ProviderAdapter.refusal): only Anthropic's `top_k` and `cache_control`, which a
/v1/messages client may send and Chat Completions has no field for. Otherwise the gateway's
request model is the Chat Completions API's own, so every field (tools, tool_choice, parallel_tool_calls,
response_format, seed, penalties, logit_bias, n, logprobs/top_logprobs, metadata,
reasoning_effort, images, names, tool turns) is passed through as given. What a particular
upstream model rejects (e.g. logprobs on a reasoning model, or an OpenAI-compatible server
without tools) comes back as that server's own 400 naming the parameter, which the gateway
relays (UpstreamBadRequest, not retried elsewhere); nothing is dropped on the way. One such
case is known: api.openai.com takes `metadata` only with `store: true`, which the gateway
does not send on a client's behalf (storing completions on OpenAI's side is the client's
choice, and ChatOptions has no `store`), so `metadata` alone gets OpenAI's 400; vLLM-style
servers take it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from providers_app import json_bytes

from .base import ProviderAdapter
from .errors import StatusError
from .openai_answer import StreamState, completion_from, usage_from
from .openai_embed import EMBEDDINGS_PATH, embed_params, embeddings_from
from .openai_request import refusal_of, request_params
from .sse_decode import aiter_events, drain
from .types import ChatRequest, Completion, EmbeddingRequest, Embeddings, StreamChunk

if TYPE_CHECKING:
    from providers_app.errors import InvalidRequest

__all__ = ["OpenAIAdapter", "StreamState", "completion_from", "max_tokens_field_for", "request_params", "usage_from"]

PROVIDER = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHAT_PATH = "/chat/completions"


def max_tokens_field_for(base_url: str | None) -> str:
    # OpenAI's own API wants max_completion_tokens (its reasoning models reject max_tokens);
    # most OpenAI-compatible servers know only max_tokens.
    host = urlsplit(base_url).hostname if base_url else "api.openai.com"
    return "max_completion_tokens" if host == "api.openai.com" else "max_tokens"


def stream_body(params: dict[str, Any]) -> dict[str, Any]:
    """`request_params` as the body of a streamed call: asks for the final usage chunk."""
    return {**params, "stream": True, "stream_options": {"include_usage": True}}


def chunk_of(data: str) -> Any:
    """The decoded JSON of one `data:` payload; an `{"error": ...}` payload raises StatusError
    (where the SDK's stream raises APIError), which errors.classify maps by the error's type."""
    chunk = json_bytes.loads(data)
    if isinstance(chunk, dict) and chunk.get("error"):
        raise StatusError(200, None, chunk["error"])
    return chunk


# --- transport ---------------------------------------------------------------------------
class OpenAIAdapter(ProviderAdapter):
    kind = "openai"
    default_base_url = DEFAULT_BASE_URL

    def __init__(
        self, *, base_url: str | None, api_key: str | None, timeout_s: float, max_tokens_field: str | None = None
    ) -> None:
        super().__init__(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
        self.max_tokens_field = max_tokens_field or max_tokens_field_for(base_url)

    @classmethod
    def refusal(cls, request: ChatRequest) -> InvalidRequest | None:
        return refusal_of(request)

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        # A key-less OpenAI-compatible server (vLLM, llama.cpp) gets no Authorization header.
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def complete(self, request: ChatRequest) -> Completion:
        try:
            response = await self._send(
                "POST", CHAT_PATH, request_params(request, max_tokens_field=self.max_tokens_field)
            )
            return completion_from(json_bytes.loads(response.content))
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
                        for out in state.chunks_for(chunk_of(event.data)):
                            yield out
            finally:
                await response.aclose()  # also when our consumer stops early
            final = state.final_chunk()
        except Exception as exc:
            raise self._error(exc) from None
        yield final

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        try:
            response = await self._send("POST", EMBEDDINGS_PATH, embed_params(request))
            return embeddings_from(json_bytes.loads(response.content), request)
        except Exception as exc:
            raise self._error(exc) from None

    async def list_models(self) -> list[str]:
        try:
            body = (await self._send("GET", "/models")).json()
            return [str(model["id"]) for model in body["data"]]
        except Exception as exc:
            raise self._error(exc) from None
