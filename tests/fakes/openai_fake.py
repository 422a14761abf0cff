"""OpenAI Chat Completions wire format (POST /v1/chat/completions, GET /v1/models).

Usage semantics as OpenAI reports them: `prompt_tokens` INCLUDES cached tokens, and
`prompt_tokens_details.cached_tokens` says how many of them were cached.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from .wire import Answer, Prompt, ProviderWire, content_text

FINISH_REASONS = {"stop": "stop", "length": "length", "stop_sequence": "stop"}

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "server_error",
}


def data_line(payload: dict[str, Any] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {text}\n\n".encode()


class OpenAIWire(ProviderWire):
    name = "openai"

    def parse(self, body: dict[str, Any]) -> Prompt:
        stop = body.get("stop") or ()
        return Prompt(
            model=body.get("model", ""),
            texts=tuple((m.get("role", ""), content_text(m.get("content"))) for m in body.get("messages", [])),
            max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
            stream=bool(body.get("stream")),
            include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
        )

    def _usage(self, answer: Answer) -> dict[str, Any]:
        prompt_tokens = answer.input_tokens + answer.cache_read
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": answer.output_tokens,
            "total_tokens": prompt_tokens + answer.output_tokens,
            "prompt_tokens_details": {"cached_tokens": answer.cache_read, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def completion_body(self, prompt: Prompt, answer: Answer) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake{uuid.uuid4().hex[:20]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": prompt.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": FINISH_REASONS[answer.finish],
                }
            ],
            "usage": self._usage(answer),
            "system_fingerprint": "fp_fake",
        }

    def stream_frames(self, prompt: Prompt, answer: Answer) -> list[bytes]:
        include_usage = prompt.include_usage
        ident, created = f"chatcmpl-fake{uuid.uuid4().hex[:20]}", int(time.time())

        def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
            body: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": prompt.model,
                "system_fingerprint": "fp_fake",
                "choices": choices,
            }
            if include_usage:
                body["usage"] = usage  # null on every chunk but the last, as OpenAI sends it
            return data_line(body)

        def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

        frames = [chunk(choice({"role": "assistant", "content": "", "refusal": None}))]
        frames += [chunk(choice({"content": text})) for text in answer.chunks]
        frames.append(chunk(choice({}, FINISH_REASONS[answer.finish])))
        if include_usage:
            frames.append(chunk([], self._usage(answer)))
        frames.append(data_line("[DONE]"))
        return frames

    def default_error_type(self, status: int) -> str:
        return ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return {"error": {"message": message, "type": error_type, "param": None, "code": code}}

    def error_frame(self, error_type: str, message: str) -> bytes:
        return data_line(self.error_body(0, error_type, message))

    def malformed_frame(self) -> bytes:
        return b'data: {"id": "chatcmpl-broken", "choices": [\n\n'

    def models_body(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": 1700000000, "owned_by": "fake"} for n in names],
        }
