"""What the interfaces (REST, OpenAI-compatible, gRPC) hand to the completion
service and get back. Interfaces parse into CompletionInput and render
CompletionResult / stream events; nothing else crosses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from providers_app.adapters.types import Message, Usage


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    id: int
    name: str
    allowed_models: frozenset[str] | None  # None = every model
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CompletionInput:
    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    user: str | None = None
    cache: bool = True  # False: neither read nor write the response cache


@dataclass(frozen=True, slots=True)
class CallContext:
    request_id: str
    client: ClientIdentity
    interface: str  # "rest" | "openai" | "grpc"
    deadline_s: float | None = None  # seconds left, from a gRPC deadline


@dataclass(slots=True)
class Attempt:
    model: str
    provider: str
    key: str  # the key's label
    outcome: str  # "ok" or an error code

    def as_dict(self) -> dict[str, str]:
        return {"model": self.model, "provider": self.provider, "key": self.key, "outcome": self.outcome}


@dataclass(slots=True)
class CompletionResult:
    request_id: str
    model: str  # as requested
    served_model: str  # the public name of the model that answered (a fallback, perhaps)
    provider: str
    text: str
    finish_reason: str | None
    usage: Usage
    cost_usd: Decimal
    cached: bool
    latency_ms: float
    response_id: str | None = None
    usage_estimated: bool = False
    attempts: list[Attempt] = field(default_factory=list)


@dataclass(slots=True)
class StreamStart:
    """First event of every stream: who is answering (known once routing is done)."""

    request_id: str
    served_model: str
    provider: str
    cached: bool


@dataclass(slots=True)
class StreamDelta:
    text: str


@dataclass(slots=True)
class StreamEnd:
    """Last event of a successful stream."""

    result: CompletionResult


StreamEvent = StreamStart | StreamDelta | StreamEnd
