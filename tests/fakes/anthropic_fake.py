"""Anthropic Messages API wire format (POST /v1/messages, GET /v1/models).

Usage semantics as Anthropic reports them: `input_tokens` excludes cached tokens, which
come separately as `cache_read_input_tokens` / `cache_creation_input_tokens`.

Tools as the Messages API has them: `tools` ({name, input_schema}), `tool_choice` ({"type":
auto | any | tool | none}), `tool_result` blocks in the user turn after the `tool_use` ones,
structured output as `output_config.format`. Answers with tool calls are `tool_use` content
blocks and stop_reason "tool_use"; streamed, each is a content_block_start (input {}), an
empty input_json_delta then one per fragment, and a content_block_stop, as Anthropic sends them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from typing import Any

from .wire import Answer, Prompt, ProviderWire, ToolCallAnswer, content_text

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence", "tool_calls": "tool_use"}
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}  # "tool": the tool's name
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")

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
        messages = body.get("messages", [])
        texts += [(m.get("role", ""), content_text(m.get("content"))) for m in messages]
        choice = body.get("tool_choice") or {}
        fmt = (body.get("output_config") or {}).get("format") or {}
        return Prompt(
            model=body.get("model", ""),
            texts=tuple(texts),
            max_tokens=body.get("max_tokens"),
            stop=tuple(body.get("stop_sequences") or ()),
            stream=bool(body.get("stream")),
            tools=tuple((t["name"], t.get("input_schema")) for t in body.get("tools") or ()),
            tool_choice=choice.get("name") if choice.get("type") == "tool" else TOOL_CHOICES.get(choice.get("type")),
            tool_results=_tool_results(messages),
            json_schema=fmt.get("schema") if fmt.get("type") == "json_schema" else None,
            images=sum(_is_image(b) for m in messages for b in _blocks(m.get("content"))),
            thinking=(body.get("thinking") or {}).get("type") in ("enabled", "adaptive"),
            invalid=_tampered_thinking(messages),
        )

    def _usage(self, answer: Answer, *, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": answer.input_tokens,
            "cache_creation_input_tokens": answer.cache_write,
            "cache_read_input_tokens": answer.cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": answer.cache_write - answer.cache_write_1h,
                "ephemeral_1h_input_tokens": answer.cache_write_1h,
            },
            "output_tokens": output_tokens,
        }

    def _message(self, prompt: Prompt, answer: Answer, *, done: bool) -> dict[str, Any]:
        return {
            "id": f"msg_fake{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": prompt.model,
            "content": (_thinking_blocks(prompt) + _content(answer)) if done else [],
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
        ]
        index = 0
        for block in _thinking_blocks(prompt):  # thinking first, in pieces, then its signature
            empty = {"type": "thinking", "thinking": "", "signature": ""}
            frames.append(
                sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": empty})
            )
            words = block["thinking"].split(" ")
            for piece in (" ".join(words[: len(words) // 2]) + " ", " ".join(words[len(words) // 2 :])):
                delta = {"type": "thinking_delta", "thinking": piece}
                frames.append(
                    sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                )
            delta = {"type": "signature_delta", "signature": block["signature"]}
            frames.append(sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
            frames.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        if answer.chunks or not answer.tool_calls:
            frames += [
                sse(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
                ),
                sse("ping", {"type": "ping"}),
            ]
            frames += [
                sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": chunk}},
                )
                for chunk in answer.chunks
            ]
            frames.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        for i, call in enumerate(answer.tool_calls, start=index):
            frames += _tool_frames(i, call)
        frames += [
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


def _tool_id(call: ToolCallAnswer) -> str:
    return "toolu_" + call.id.removeprefix("call_")


def _content(answer: Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = (
        [{"type": "text", "text": answer.text}] if answer.text or not answer.tool_calls else []
    )
    blocks += [{"type": "tool_use", "id": _tool_id(c), "name": c.name, "input": c.args} for c in answer.tool_calls]
    return blocks


def _tool_frames(index: int, call: ToolCallAnswer) -> list[bytes]:
    start = {"type": "tool_use", "id": _tool_id(call), "name": call.name, "input": {}}
    frames = [sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})]
    # Anthropic opens with an empty fragment, then the input's JSON in pieces.
    frames += [
        sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": f}},
        )
        for f in ("", *call.fragments)
    ]
    frames.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    return frames


def _signature(thinking: str) -> str:
    return "sig_" + hashlib.sha256(thinking.encode()).hexdigest()[:32]


def _thinking_blocks(prompt: Prompt) -> list[dict[str, Any]]:
    if not prompt.thinking:
        return []
    last_user = next((t for role, t in reversed(prompt.texts) if role == "user"), "")
    thinking = f"The user wrote {len(last_user.split())} words; I will echo them."
    return [{"type": "thinking", "thinking": thinking, "signature": _signature(thinking)}]


def _tampered_thinking(messages: list[Any]) -> str | None:
    """As Anthropic checks an earlier answer's thinking block against its signature."""
    for i, m in enumerate(messages):
        for j, b in enumerate(_blocks(m.get("content"))):
            if b.get("type") == "thinking" and b.get("signature") != _signature(str(b.get("thinking"))):
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
    return None


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _tool_results(messages: list[Any]) -> tuple[str, ...]:
    """The tool_result blocks of the last user turn, as text (a string, or text blocks)."""
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    if last is None:
        return ()
    return tuple(content_text(b.get("content")) for b in _blocks(last.get("content")) if b.get("type") == "tool_result")


def _is_image(block: dict[str, Any]) -> bool:
    """A well-formed image block: base64 of a supported type, or an https URL."""
    source = block.get("source") or {}
    if block.get("type") != "image":
        return False
    if source.get("type") == "url":
        return str(source.get("url", "")).startswith("https://")
    if source.get("type") != "base64" or source.get("media_type") not in IMAGE_TYPES or not source.get("data"):
        return False
    try:
        base64.b64decode(source["data"], validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
