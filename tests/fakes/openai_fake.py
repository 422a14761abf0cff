"""OpenAI Chat Completions wire format (POST /v1/chat/completions, GET /v1/models), and its
embeddings (POST /v1/embeddings: `embeddings_body`).

Usage semantics as OpenAI reports them: `prompt_tokens` INCLUDES cached tokens, and
`prompt_tokens_details.cached_tokens` says how many of them were cached;
`completion_tokens` INCLUDES `completion_tokens_details.reasoning_tokens` and counts every
choice.

Beyond text, as OpenAI sends it: tool calls (`message.tool_calls`, content null,
finish_reason "tool_calls"; streamed as a first delta per call with id, type and name and
`arguments: ""`, then argument fragments), `n` choices, `logprobs` (one token per word),
and refusals. The fake model refuses (`message.refusal`, content null) when the last user
message has the word "refuse", and reasons (reasoning_tokens) when asked a
`reasoning_effort`: REASONING_TOKENS of them.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .embedding import BadEmbedInput, inputs_of, tokens_of, vector_for
from .wire import Answer, Prompt, ProviderWire, ToolCallAnswer, content_text

FINISH_REASONS = {"stop": "stop", "length": "length", "stop_sequence": "stop", "tool_calls": "tool_calls"}
REASONING_TOKENS = {"minimal": 0, "low": 2, "medium": 4, "high": 8}

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "server_error",
}
_DATA_IMAGE = re.compile(r"data:image/[a-z+.-]+;base64,[A-Za-z0-9+/]+=*\Z")
_TOKEN = re.compile(r"\s*\S+")


def data_line(payload: dict[str, Any] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {text}\n\n".encode()


@dataclass(frozen=True)
class OpenAIPrompt(Prompt):
    """What only OpenAI's wire asks of the answer's rendering."""

    logprobs: bool = False
    top_logprobs: int = 0
    reasoning_tokens: int = 0
    refuse: bool = False


def _text_of(content: Any) -> str:
    if isinstance(content, list):  # parts: the text parts only
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content_text(content)


def _images(messages: list[Any]) -> int:
    """Well-formed image parts: an https URL or a base64 data URL of an image."""
    seen = 0
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        for part in content if isinstance(content, list) else ():
            url = (part.get("image_url") or {}).get("url", "") if part.get("type") == "image_url" else ""
            if url.startswith("https://") or _DATA_IMAGE.match(url):
                seen += 1
    return seen


def _tool_choice(choice: Any) -> str | None:
    if isinstance(choice, dict):
        return (choice.get("function") or {}).get("name")
    return choice


def _tool_results(messages: list[Any]) -> tuple[str, ...]:
    results: list[str] = []
    for m in reversed(messages):
        if m.get("role") != "tool":
            break
        results.insert(0, _text_of(m.get("content")))
    return tuple(results)


def _logprobs(text: str, top: int) -> list[dict[str, Any]]:
    """One token per word (its leading space included), a made-up but stable logprob each."""
    out = []
    for token in _TOKEN.findall(text):
        logprob = -round(0.01 * len(token), 4)
        alternatives = [(token, logprob)] + [(f"{token}~{k}", logprob - k) for k in range(1, top)]
        out.append(
            {
                "token": token,
                "logprob": logprob,
                "bytes": list(token.encode()),
                "top_logprobs": [
                    {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in alternatives[:top]
                ],
            }
        )
    return out


class OpenAIWire(ProviderWire):
    name = "openai"

    def parse(self, body: dict[str, Any]) -> Prompt:
        stop = body.get("stop") or ()
        messages = body.get("messages", [])
        texts = tuple((m.get("role", ""), _text_of(m.get("content"))) for m in messages)
        tools = tuple(
            (t["function"]["name"], t["function"].get("parameters"))
            for t in body.get("tools") or ()
            if t.get("type") == "function"
        )
        fmt = body.get("response_format") or {}
        last_user = next((t for role, t in reversed(texts) if role == "user"), "")
        return OpenAIPrompt(
            model=body.get("model", ""),
            texts=texts,
            max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
            stream=bool(body.get("stream")),
            include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
            tools=tools,
            tool_choice=_tool_choice(body.get("tool_choice")),
            tool_results=_tool_results(messages),
            json_schema=(fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None,
            json_mode=fmt.get("type") == "json_object",
            images=_images(messages),
            n=body.get("n") or 1,
            logprobs=bool(body.get("logprobs")),
            top_logprobs=body.get("top_logprobs") or 0,
            reasoning_tokens=REASONING_TOKENS.get(body.get("reasoning_effort"), 0),
            refuse="refuse" in last_user.split(),
        )

    def _usage(self, prompt: Prompt, answer: Answer) -> dict[str, Any]:
        prompt_tokens = answer.input_tokens + answer.cache_read
        reasoning = getattr(prompt, "reasoning_tokens", 0)
        completion_tokens = (answer.output_tokens + reasoning) * prompt.n  # every choice, reasoning included
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": answer.cache_read, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning * prompt.n, "audio_tokens": 0},
        }

    def _logprobs(self, prompt: Prompt, answer: Answer, text: str) -> dict[str, Any] | None:
        if not getattr(prompt, "logprobs", False):
            return None
        tokens = _logprobs(text, getattr(prompt, "top_logprobs", 0))
        if answer.tool_calls:
            return {"content": None, "refusal": None}
        if getattr(prompt, "refuse", False):
            return {"content": None, "refusal": tokens}
        return {"content": tokens, "refusal": None}

    def completion_body(self, prompt: Prompt, answer: Answer) -> dict[str, Any]:
        refuse = getattr(prompt, "refuse", False) and not answer.tool_calls
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if refuse or answer.tool_calls else answer.text,
            "refusal": answer.text if refuse else None,
            "annotations": [],
        }
        if answer.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in answer.tool_calls
            ]
        return {
            "id": f"chatcmpl-fake{uuid.uuid4().hex[:20]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": prompt.model,
            "choices": [
                {
                    "index": i,
                    "message": message,
                    "logprobs": self._logprobs(prompt, answer, answer.text),
                    "finish_reason": FINISH_REASONS[answer.finish],
                }
                for i in range(prompt.n)
            ],
            "usage": self._usage(prompt, answer),
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

        # Each choice's deltas (the same answer for every choice), then sent interleaved, one
        # choice per chunk, as OpenAI does with n > 1.
        deltas = self._deltas(prompt, answer)
        frames = []
        for step in deltas:
            for i in range(prompt.n):
                delta, logprobs = step
                frames.append(chunk([{"index": i, "delta": delta, "logprobs": logprobs, "finish_reason": None}]))
        finish = FINISH_REASONS[answer.finish]
        frames += [
            chunk([{"index": i, "delta": {}, "logprobs": None, "finish_reason": finish}]) for i in range(prompt.n)
        ]
        if include_usage:
            frames.append(chunk([], self._usage(prompt, answer)))
        frames.append(data_line("[DONE]"))
        return frames

    def _deltas(self, prompt: Prompt, answer: Answer) -> list[tuple[dict[str, Any], Any]]:
        """(delta, logprobs) of one choice, in order."""
        if answer.tool_calls:
            first: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
            out: list[tuple[dict[str, Any], Any]] = []
            for k, call in enumerate(answer.tool_calls):
                head = {"tool_calls": [_call_head(k, call)]}
                out.append(({**first, **head} if k == 0 else head, None))
                out += [({"tool_calls": [{"index": k, "function": {"arguments": f}}]}, None) for f in call.fragments]
            return out
        if getattr(prompt, "refuse", False):
            return [({"role": "assistant", "content": None, "refusal": ""}, None)] + [
                ({"refusal": piece}, self._logprobs(prompt, answer, piece)) for piece in answer.chunks
            ]
        return [({"role": "assistant", "content": "", "refusal": None}, None)] + [
            ({"content": piece}, self._logprobs(prompt, answer, piece)) for piece in answer.chunks
        ]

    def default_error_type(self, status: int) -> str:
        return ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return {"error": {"message": message, "type": error_type, "param": None, "code": code}}

    def error_frame(self, error_type: str, message: str) -> bytes:
        return data_line(self.error_body(0, error_type, message))

    def malformed_frame(self) -> bytes:
        return b'data: {"id": "chatcmpl-broken", "choices": [\n\n'

    def embeddings_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/embeddings: one vector per input (`dimensions` long, else 8), as floats or,
        with `encoding_format: "base64"`, as the base64 of its little-endian float32 array.
        Raises BadEmbedInput for what OpenAI answers with a 400."""
        inputs = inputs_of(body.get("input"))
        dimensions = body.get("dimensions")
        if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
            raise BadEmbedInput("'dimensions' must be a positive integer")
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise BadEmbedInput("'encoding_format' must be 'float' or 'base64'")
        data = []
        for i, text in enumerate(inputs):
            vector: list[float] | str = vector_for(text, dimensions)
            if encoding == "base64":
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": vector})
        tokens = tokens_of(inputs)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", ""),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def models_body(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": 1700000000, "owned_by": "fake"} for n in names],
        }


def _call_head(k: int, call: ToolCallAnswer) -> dict[str, Any]:
    return {"index": k, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
