"""Ollama wire format (POST /api/chat, GET /api/tags, POST /api/embed): NDJSON streams,
`{"error": "..."}` errors.

Ollama streams by default; the `ollama` SDK always sends `"stream"` explicitly. Tools come as
`tools: [{"type": "function", "function": {name, description, parameters}}]` (Ollama has no
tool_choice); the model's calls go out whole in `message.tool_calls: [{"function": {"index",
"name", "arguments": {...}}}]` (arguments an object, no call id), in one stream line before the
done line, and the answer still says `done_reason: "stop"`. Results come back as role "tool"
messages. `format` is "json" or a JSON Schema; images are base64 strings in a message's
`images`; `logprobs` / `top_logprobs` ask for a top-level `logprobs` list on each line.
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .embedding import BadEmbedInput, inputs_of, tokens_of, vector_for
from .wire import Answer, Prompt, ProviderWire, content_text

DONE_REASONS = {"stop": "stop", "length": "length", "stop_sequence": "stop", "tool_calls": "stop"}


@dataclass(frozen=True)
class OllamaPrompt(Prompt):
    logprobs: bool = False
    top_logprobs: int = 0


def _images(messages: list[Any]) -> int:
    """Images that are base64 (what Ollama decodes before the model sees them)."""
    seen = 0
    for m in messages:
        for image in m.get("images") or ():
            try:
                if isinstance(image, str) and binascii.a2b_base64(image, strict_mode=True):
                    seen += 1
            except (binascii.Error, ValueError):
                pass
    return seen


def _tool_results(messages: list[Any]) -> tuple[str, ...]:
    """The contents of the trailing role-"tool" messages: the results of the last calls."""
    out: list[str] = []
    for m in reversed(messages):
        if m.get("role") != "tool":
            break
        out.append(content_text(m.get("content")))
    return tuple(reversed(out))


def _logprobs(text: str, top: int) -> list[dict[str, Any]]:
    """One entry per word (a word is a token here), in Ollama's shape."""
    entries = []
    for token in re.findall(r"\s*\S+", text):
        entry: dict[str, Any] = {"token": token, "logprob": -0.25, "bytes": list(token.encode())}
        if top:
            entry["top_logprobs"] = [
                {"token": token, "logprob": -0.25, "bytes": list(token.encode())},
                *({"token": f"alt{k}", "logprob": -2.0 - k, "bytes": list(f"alt{k}".encode())} for k in range(1, top)),
            ]
        entries.append(entry)
    return entries


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
        messages = body.get("messages") or []
        tools = tuple(
            (t["function"]["name"], t["function"].get("parameters"))
            for t in body.get("tools") or ()
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        )
        fmt = body.get("format")
        return OllamaPrompt(
            model=body.get("model", ""),
            texts=tuple((m.get("role", ""), content_text(m.get("content"))) for m in messages),
            max_tokens=options.get("num_predict"),
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
            stream=body.get("stream", True) is not False,
            tools=tools,
            tool_results=_tool_results(messages),
            json_schema=fmt if isinstance(fmt, dict) else None,
            json_mode=fmt == "json",
            images=_images(messages),
            logprobs=body.get("logprobs") is True,
            top_logprobs=body.get("top_logprobs") or 0,
        )

    def _message(self, answer: Answer, text: str, *, calls: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if calls and answer.tool_calls:
            message["tool_calls"] = [
                {"function": {"index": i, "name": c.name, "arguments": c.args}} for i, c in enumerate(answer.tool_calls)
            ]
        return message

    def _with_logprobs(self, prompt: Prompt, line: dict[str, Any], text: str) -> dict[str, Any]:
        if isinstance(prompt, OllamaPrompt) and prompt.logprobs and text:
            line["logprobs"] = _logprobs(text, prompt.top_logprobs)
        return line

    def _final(self, prompt: Prompt, answer: Answer, text: str, *, calls: bool = False) -> dict[str, Any]:
        return {
            "model": prompt.model,
            "created_at": _now(),
            "message": self._message(answer, text, calls=calls),
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
        return self._with_logprobs(prompt, self._final(prompt, answer, answer.text, calls=True), answer.text)

    def _line(self, prompt: Prompt, message: dict[str, Any]) -> bytes:
        line = {"model": prompt.model, "created_at": _now(), "message": message, "done": False}
        return ndjson(self._with_logprobs(prompt, line, message["content"]))

    def stream_frames(self, prompt: Prompt, answer: Answer) -> list[bytes]:
        frames = [self._line(prompt, {"role": "assistant", "content": chunk}) for chunk in answer.chunks]
        if answer.tool_calls:  # whole calls, in one line of their own
            frames.append(self._line(prompt, self._message(answer, "", calls=True)))
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

    def embeddings_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/embed: `embeddings` (one float list per input, `dimensions` long, else 8)
        and `prompt_eval_count`. Raises BadEmbedInput for what Ollama answers with a 400."""
        inputs = inputs_of(body.get("input"))
        dimensions = body.get("dimensions")
        if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
            raise BadEmbedInput("dimensions must be a positive integer")
        return {
            "model": body.get("model", ""),
            "embeddings": [vector_for(text, dimensions) for text in inputs],
            "total_duration": 1_000_000,
            "load_duration": 100_000,
            "prompt_eval_count": tokens_of(inputs),
        }

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
