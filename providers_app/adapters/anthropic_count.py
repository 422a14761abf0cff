"""Anthropic's token counting, POST {base_url}/v1/messages/count_tokens, for an AnthropicAdapter
(kept beside anthropic.py, which sends completions): the body goes as the client sent it, the
model replaced by the upstream one; the answer is its `input_tokens`."""

from __future__ import annotations

from typing import Any

from providers_app.errors import UpstreamMalformedResponse

from .anthropic import AnthropicAdapter
from .body import count

COUNT_TOKENS_PATH = "/v1/messages/count_tokens"


async def count_tokens(adapter: AnthropicAdapter, body: dict[str, Any]) -> int:
    """The input tokens of this Messages request (without max_tokens); raises a classified error."""
    try:
        answer = (await adapter._send("POST", COUNT_TOKENS_PATH, body)).json()  # noqa: SLF001 - its transport
        if not isinstance(answer, dict) or "input_tokens" not in answer:
            raise UpstreamMalformedResponse("anthropic: count_tokens answer has no input_tokens")
        return count(answer["input_tokens"])
    except Exception as exc:
        raise adapter._error(exc) from None  # noqa: SLF001
