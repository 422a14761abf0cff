"""Normalized request and result types: the only shapes that cross the adapter boundary."""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # one of ROLES
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What an adapter is asked to do. `model` is the upstream model id."""

    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    user: str | None = None


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(slots=True)
class Completion:
    text: str
    finish_reason: str | None
    usage: Usage
    response_id: str | None = None
    model: str | None = None  # as the provider reported it


@dataclass(slots=True)
class StreamChunk:
    """A piece of a streamed answer. The last chunk of a stream carries
    `usage` and `finish_reason`; text chunks carry neither. `counted`: the input and cache
    counts a provider reports before its answer (Anthropic's message_start), on the first
    chunk after them, so that a stream cut or abandoned before its end is billed them rather
    than an estimate (its output_tokens counts nothing delivered)."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    response_id: str | None = None
    counted: Usage | None = None
    extra: dict = field(default_factory=dict)
