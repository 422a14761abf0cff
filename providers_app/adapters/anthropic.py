"""Anthropic Messages API adapter: POST {base_url}/v1/messages.

On the wire as the `anthropic` SDK sends it (tests/unit/adapters/test_contract.py and
test_contract_anthropic_tools.py): the key as `Authorization: Bearer` (anthropic 2.x),
`anthropic-version` the SDK's own, a JSON body, SSE for streams. ANTHROPIC_BASE_URL /
ANTHROPIC_API_KEY in the environment are ignored. Translation lives in anthropic_request.py
(the request: tools, images, tool turns, JSON output; what is refused, by name) and
anthropic_answer.py (answers and stream events: text, tool calls, usage); this module sends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from providers_app import json_bytes
from providers_app.errors import InvalidRequest

from .anthropic_answer import FINISH_REASONS, StreamState, completion_from, finish_reason, stream_error, usage_from
from .anthropic_request import json_tool_name, messages_refusal, options_refusal, request_params
from .base import ProviderAdapter
from .sse_decode import aiter_events, drain
from .types import ChatRequest, Completion, StreamChunk

__all__ = ["FINISH_REASONS", "AnthropicAdapter", "completion_from", "finish_reason", "request_params", "usage_from"]

PROVIDER = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
MESSAGES_PATH = "/v1/messages"
# The version the pinned SDK sends (anthropic 2.14.0); test_contract.py fails when they part.
ANTHROPIC_VERSION = "2026-10-21"

# Anthropic requires max_tokens. Sent when neither the request nor the model's admin-set
# max_output_tokens says (settings.DEFAULT_MAX_TOKENS overrides it): room for a real answer
# or a few tool calls, and within every current Claude model's output limit.
DEFAULT_MAX_TOKENS = 4096


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

    @classmethod
    def refusal(cls, request: ChatRequest) -> InvalidRequest | None:
        if request.options is not None and (refused := options_refusal(request.options)) is not None:
            return refused
        return messages_refusal(request.messages)

    async def complete(self, request: ChatRequest) -> Completion:
        # Translation first: what cannot be sent is the client's InvalidRequest, not an upstream error.
        body = request_params(request, default_max_tokens=self.default_max_tokens)
        json_tool = json_tool_name(request.options) if request.options is not None else None
        try:
            return completion_from((await self._send("POST", MESSAGES_PATH, body)).json(), json_tool=json_tool)
        except Exception as exc:
            raise self._error(exc) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        body = {**request_params(request, default_max_tokens=self.default_max_tokens), "stream": True}
        state = StreamState(json_tool=json_tool_name(request.options) if request.options is not None else None)
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
                    chunk = state.chunk_for(json_bytes.loads(event.data))
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
