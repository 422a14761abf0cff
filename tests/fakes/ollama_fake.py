"""Ollama wire format (POST /api/chat, GET /api/tags): NDJSON streams, `{"error": "..."}` errors.

Ollama streams by default; the `ollama` SDK always sends `"stream"` explicitly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .wire import Answer, Prompt, ProviderWire, content_text

DONE_REASONS = {"stop": "stop", "length": "length", "stop_sequence": "stop"}


def ndjson(payload: dict[str, Any]) -> bytes:
    return (json.dumps(payload) + "\n").encode()


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class OllamaWire(ProviderWire):
    name = "ollama"
    stream_content_type = "application/x-ndjson"

    def parse(self, body: dict[str, Any]) -> Prompt:
        options = body.get("options") or {}
        stop = options.get("stop") or ()
        return Prompt(
            model=body.get("model", ""),
            texts=tuple((m.get("role", ""), content_text(m.get("content"))) for m in body.get("messages", [])),
            max_tokens=options.get("num_predict"),
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
            stream=body.get("stream", True) is not False,
        )

    def _final(self, prompt: Prompt, answer: Answer, text: str) -> dict[str, Any]:
        return {
            "model": prompt.model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": DONE_REASONS[answer.finish],
            "total_duration": 1_000_000,
            "load_duration": 100_000,
            "prompt_eval_count": answer.input_tokens,
            "prompt_eval_duration": 200_000,
            "eval_count": answer.output_tokens,
            "eval_duration": 700_000,
        }

    def completion_body(self, prompt: Prompt, answer: Answer) -> dict[str, Any]:
        return self._final(prompt, answer, answer.text)

    def stream_frames(self, prompt: Prompt, answer: Answer) -> list[bytes]:
        frames = [
            ndjson(
                {
                    "model": prompt.model,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": chunk},
                    "done": False,
                }
            )
            for chunk in answer.chunks
        ]
        frames.append(ndjson(self._final(prompt, answer, "")))
        return frames

    def default_error_type(self, status: int) -> str:
        return "error"  # Ollama errors have no type, only a message

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        return {"error": message}

    def error_frame(self, error_type: str, message: str) -> bytes:
        return ndjson({"error": message})

    def malformed_frame(self) -> bytes:
        return b'{"model": "broken", "message": {\n'

    def tags_body(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": n,
                    "model": n,
                    "modified_at": "2025-01-01T00:00:00Z",
                    "size": 1_000_000,
                    "digest": "0" * 64,
                    "details": {"format": "gguf", "family": "fake", "parameter_size": "1B"},
                }
                for n in names
            ]
        }
