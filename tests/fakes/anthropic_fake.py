"""Anthropic Messages API wire format (POST /v1/messages, GET /v1/models).

Usage semantics as Anthropic reports them: `input_tokens` excludes cached tokens, which
come separately as `cache_read_input_tokens` / `cache_creation_input_tokens`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .wire import Answer, Prompt, ProviderWire, content_text

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence"}

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class AnthropicWire(ProviderWire):
    name = "anthropic"

    def parse(self, body: dict[str, Any]) -> Prompt:
        texts: list[tuple[str, str]] = []
        system = body.get("system")
        if system:
            texts.append(("system", content_text(system)))
        texts += [(m.get("role", ""), content_text(m.get("content"))) for m in body.get("messages", [])]
        return Prompt(
            model=body.get("model", ""),
            texts=tuple(texts),
            max_tokens=body.get("max_tokens"),
            stop=tuple(body.get("stop_sequences") or ()),
            stream=bool(body.get("stream")),
        )

    def _usage(self, answer: Answer, *, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": answer.input_tokens,
            "cache_creation_input_tokens": answer.cache_write,
            "cache_read_input_tokens": answer.cache_read,
            "output_tokens": output_tokens,
        }

    def _message(self, prompt: Prompt, answer: Answer, *, done: bool) -> dict[str, Any]:
        return {
            "id": f"msg_fake{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": prompt.model,
            "content": [{"type": "text", "text": answer.text}] if done else [],
            "stop_reason": STOP_REASONS[answer.finish] if done else None,
            "stop_sequence": answer.stop_sequence if done else None,
            "usage": self._usage(answer, output_tokens=answer.output_tokens if done else 1),
        }

    def completion_body(self, prompt: Prompt, answer: Answer) -> dict[str, Any]:
        return self._message(prompt, answer, done=True)

    def stream_frames(self, prompt: Prompt, answer: Answer) -> list[bytes]:
        # The documented event sequence, ping included.
        frames = [
            sse("message_start", {"type": "message_start", "message": self._message(prompt, answer, done=False)}),
            sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            sse("ping", {"type": "ping"}),
        ]
        frames += [
            sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": chunk}},
            )
            for chunk in answer.chunks
        ]
        frames += [
            sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": STOP_REASONS[answer.finish], "stop_sequence": answer.stop_sequence},
                    "usage": {"output_tokens": answer.output_tokens},
                },
            ),
            sse("message_stop", {"type": "message_stop"}),
        ]
        return frames

    def default_error_type(self, status: int) -> str:
        return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": error_type, "message": message}}

    def error_frame(self, error_type: str, message: str) -> bytes:
        return sse("error", self.error_body(0, error_type, message))

    def malformed_frame(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {\n\n'

    def models_body(self, names: tuple[str, ...]) -> dict[str, Any]:
        data = [{"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"} for n in names]
        return {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
