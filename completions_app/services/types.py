"""What the interfaces (REST, OpenAI-compatible, gRPC) hand to the completion
service and get back. Interfaces parse into CompletionInput and render
CompletionResult / stream events; nothing else crosses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from providers_app.adapters.types import ChatOptions, Choice, Message, ThinkingDelta, ToolCall, ToolCallDelta, Usage

from .limit_types import Owner


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    id: int
    name: str
    allowed_models: frozenset[str] | None  # None = every model
    expires_at: datetime | None = None
    # The key's and its team's limits, those with any limit set: () = unlimited (limit_types.py).
    owners: tuple[Owner, ...] = ()
    team: str = ""  # the key's team's name, if it has one


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
    options: ChatOptions | None = None  # tools, JSON output, n, logprobs...: None for plain text

    @property
    def plain(self) -> bool:
        """Text in, text out: no options, no images, no tool turns, no names, system messages
        only at the start (nothing a provider kind may refuse)."""
        if self.options is not None:
            return False
        leading = True
        for m in self.messages:
            if m.parts or m.tool_calls or m.tool_call_id is not None or m.name is not None or m.role == "tool":
                return False
            if m.role == "system":
                if not leading:
                    return False
            else:
                leading = False
        return True


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
    choices: list[Choice]  # at least one; choices[0] is the answer the record describes
    usage: Usage
    cost_usd: Decimal
    cached: bool
    latency_ms: float
    response_id: str | None = None
    usage_estimated: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    limit_headers: dict[str, str] | None = None  # a limited key's x-ratelimit-* (Admission.headers)

    @property
    def text(self) -> str:
        return self.choices[0].text

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.choices[0].tool_calls


@dataclass(slots=True)
class StreamStart:
    """First event of every stream: who is answering (known once routing is done)."""

    request_id: str
    served_model: str
    provider: str
    cached: bool
    limit_headers: dict[str, str] | None = None  # a limited key's x-ratelimit-* (Admission.headers)


@dataclass(slots=True)
class StreamDelta:
    """A piece of the answer: text of choice 0 in the common case. With tools, `n` or
    logprobs, the other fields (as in adapters.types.StreamChunk); `finish_reason` only on
    the piece that ends a choice other than 0 (choice 0's is on StreamEnd)."""

    text: str
    index: int = 0
    tool_calls: tuple[ToolCallDelta, ...] = ()
    refusal: str | None = None
    logprobs: Any = None
    finish_reason: str | None = None
    thinking: ThinkingDelta | None = None  # Anthropic: a piece of a thinking block


@dataclass(slots=True)
class StreamEnd:
    """Last event of a successful stream."""

    result: CompletionResult


StreamEvent = StreamStart | StreamDelta | StreamEnd


# --- embeddings ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EmbeddingInput:
    model: str  # the public name
    inputs: tuple[str, ...]
    dimensions: int | None = None
    encoding_format: str | None = None  # "float" | "base64"
    user: str | None = None
    cache: bool = True  # embeddings are deterministic: cached unless the client says no


@dataclass(slots=True)
class EmbeddingResult:
    request_id: str
    model: str  # as requested
    served_model: str
    provider: str
    vectors: list[list[float] | str]  # in input order (see adapters.types.Embeddings)
    usage: Usage  # input_tokens only
    cost_usd: Decimal
    cached: bool
    latency_ms: float
    usage_estimated: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    limit_headers: dict[str, str] | None = None
