"""Normalized request and result types: the only shapes that cross the adapter boundary.

One model for every interface and every provider kind (docs/chat-surface.md has the field x
kind table). A text-only request carries no `ChatOptions` (options=None), so the common path
builds and reads nothing it does not use; tools, JSON output, images and the rarer
sampling fields live in `ChatOptions`, which each adapter translates or refuses by name
(ProviderAdapter.refusal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant", "tool")


# --- the request --------------------------------------------------------------------------
# Anthropic's prompt-cache breakpoint ({"type": "ephemeral", "ttl": "5m" | "1h"}), as the client sent
# it on a block or tool: sent as given to `anthropic` providers, refused by name by the others
# (anthropic_only_field). Only the Messages API ingress (/v1/messages) sets it.
CacheControl = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    cache_control: CacheControl | None = None


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image by URL. A data URL is split at parse time (checked base64, an image type)."""

    url: str  # an https URL, or the whole data URL
    media_type: str | None = None  # data URLs: e.g. "image/png"
    data: str | None = None  # data URLs: the base64 payload
    detail: str | None = None  # OpenAI's "auto" | "low" | "high"
    cache_control: CacheControl | None = None

    @property
    def is_data(self) -> bool:
        return self.data is not None


@dataclass(frozen=True, slots=True)
class BlockPart:
    """An Anthropic content block the model has no fields for (a `document`), kept as the client
    sent it: sent as given to `anthropic` providers, refused by name by the others."""

    block: dict[str, Any]

    @property
    def cache_control(self) -> None:
        return None  # a cache_control of its own stays inside the block


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file in a user message (OpenAI's `file` part): a PDF as base64 data, or a file id of the
    provider's own Files API. openai: passed; anthropic: a PDF becomes a `document` block;
    ollama: refused."""

    data: str | None = None  # base64 (checked), with its media_type
    media_type: str | None = None
    filename: str | None = None
    file_id: str | None = None

    @property
    def cache_control(self) -> None:
        return None


Part = TextPart | ImagePart | BlockPart | FilePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it (not re-encoded)
    cache_control: CacheControl | None = None


@dataclass(frozen=True, slots=True)
class Thinking:
    """One of Anthropic's thinking blocks, kept whole: an answer's (Choice.thinking), and an
    assistant turn's sent back (Message.thinking), unmodified as Anthropic requires."""

    text: str = ""  # `thinking`
    signature: str = ""
    redacted: str | None = None  # a redacted_thinking block's `data` (then text and signature are "")


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # one of ROLES ("developer" arrives as "system")
    content: str  # the text (text parts joined); "" for an assistant turn of tool calls only
    # Set only when the content has an image or a part carries cache_control: every part, in order.
    parts: tuple[Part, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()  # assistant turns
    tool_call_id: str | None = None  # role "tool": the call it answers
    name: str | None = None  # the participant's name (OpenAI's `name`)
    cache_control: CacheControl | None = None  # role "tool": on Anthropic's tool_result block
    thinking: tuple[Thinking, ...] = ()  # assistant turns: an earlier answer's thinking blocks, first


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON Schema of type object
    strict: bool | None = None
    cache_control: CacheControl | None = None


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: str  # "auto" | "none" | "required" | "function"
    name: str | None = None  # mode "function": the tool that must be called


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    type: str  # "text" | "json_object" | "json_schema"
    name: str | None = None  # json_schema
    schema: dict[str, Any] | None = None  # json_schema
    strict: bool | None = None  # json_schema
    description: str | None = None  # json_schema


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """Everything past plain text generation; None on a ChatRequest that uses none of it.
    Each field is None / empty when the client did not send it: an adapter sends only what
    was given, and refuses (by name) what its provider cannot honour."""

    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    n: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    metadata: dict[str, str] | None = None
    reasoning_effort: str | None = None  # "minimal" | "low" | "medium" | "high" (OpenAI's words)
    top_k: int | None = None  # anthropic, ollama (Messages API ingress)
    thinking: dict[str, Any] | None = None  # Anthropic's thinking config, as sent (anthropic only)
    service_tier: str | None = None  # Anthropic's "auto" | "standard_only" (anthropic only)
    # True when a block, tool or turn carries what only Anthropic takes: cache_control, or an
    # earlier answer's thinking blocks (anthropic_block_field finds the first).
    anthropic_blocks: bool | None = None
    # Set by the service from the model's admin settings, not by clients:
    json_schema_via_tool: bool = False  # anthropic: json_schema as a forced tool, not output_config

    @classmethod
    def given(cls, **fields: Any) -> ChatOptions | None:
        """The options a client sent, its spelled-out defaults dropped (n 1, logprobs false,
        penalties 0, response_format text): None when nothing is left, so that a request
        that only restates the defaults is a plain one on every interface (same cache key,
        nothing for a provider kind to refuse)."""
        if fields.get("n") == 1:
            fields["n"] = None
        if fields.get("logprobs") is False:
            fields["logprobs"] = None
        for name in ("presence_penalty", "frequency_penalty"):
            if fields.get(name) == 0:
                fields[name] = None
        fmt = fields.get("response_format")
        if fmt is not None and fmt.type == "text":
            fields["response_format"] = None
        if all(value is None or value == () for value in fields.values()):
            return None
        return cls(**fields)

    def fields_set(self) -> list[str]:
        """The client-visible fields given (for refusals and docs)."""
        out = []
        for name in _OPTION_FIELDS:
            value = getattr(self, name)
            if value is not None and value != ():
                out.append(name)
        return out


# Client-visible fields only: anthropic_blocks is the gateway's own flag, not one a client sends.
_OPTION_FIELDS = (
    "tools", "tool_choice", "parallel_tool_calls", "response_format", "seed", "presence_penalty",
    "frequency_penalty", "logit_bias", "n", "logprobs", "top_logprobs", "metadata", "reasoning_effort", "top_k",
    "thinking", "service_tier",
)  # fmt: skip


def anthropic_block_field(messages: tuple[Message, ...], options: ChatOptions) -> str | None:
    """The first cache_control, thinking block or document block of a request, as the field path
    of the service's input (`...cache_control`, `messages[i].thinking`, `messages[i].content[k]`);
    None when there is none.
    Kinds other than anthropic refuse it by that name."""
    if not options.anthropic_blocks:
        return None
    for i, m in enumerate(messages):
        if m.thinking:
            return f"messages[{i}].thinking"
        if m.cache_control is not None:
            return f"messages[{i}].cache_control"
        for k, part in enumerate(m.parts):
            if isinstance(part, BlockPart):
                return f"messages[{i}].content[{k}]"
            if part.cache_control is not None:
                return f"messages[{i}].content[{k}].cache_control"
        for j, call in enumerate(m.tool_calls):
            if call.cache_control is not None:
                return f"messages[{i}].tool_calls[{j}].cache_control"
    for t, tool in enumerate(options.tools):
        if tool.cache_control is not None:
            return f"tools[{t}].cache_control"
    return "anthropic_blocks"


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
    options: ChatOptions | None = None


# --- the answer -----------------------------------------------------------------------------
@dataclass(slots=True)
class Usage:
    input_tokens: int = 0  # never includes cache reads or writes
    output_tokens: int = 0  # includes reasoning tokens (priced as output)
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # all cache writes, 5-minute and 1-hour
    reasoning_tokens: int = 0  # of output_tokens, those spent reasoning (for the record)
    cache_write_1h_tokens: int = 0  # of cache_write_tokens, those written for 1 hour (Anthropic ttl "1h")


@dataclass(slots=True)
class Choice:
    """One answer. Most requests have one; OpenAI's `n` asks for more."""

    text: str = ""
    finish_reason: str | None = None  # OpenAI's words: stop | length | tool_calls | content_filter
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None
    logprobs: Any = None  # OpenAI's logprobs object, as the provider sent it
    index: int = 0
    thinking: tuple[Thinking, ...] = ()  # Anthropic's thinking blocks, before the text
    stop_sequence: str | None = None  # which stop sequence ended it, when the provider says (Anthropic)


@dataclass(slots=True)
class Completion:
    choices: list[Choice]  # at least one; choices[0] is the answer the record describes
    usage: Usage
    response_id: str | None = None
    model: str | None = None  # as the provider reported it

    @property
    def text(self) -> str:
        return self.choices[0].text

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a streamed tool call, in OpenAI's terms: the first piece of call `index`
    carries its id and name, later ones argument fragments only."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class StreamChunk:
    """A piece of a streamed answer. The last chunk of a stream carries `usage` and choice
    0's `finish_reason`; other chunks carry neither, except that with `n` > 1 a choice other
    than 0 ends with a chunk of its own (its `index` and `finish_reason`). `counted`: the
    input and cache counts a provider reports before its answer (Anthropic's message_start),
    on the first chunk after them, so that a stream cut or abandoned before its end is
    billed them rather than an estimate (its output_tokens counts nothing delivered)."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    response_id: str | None = None
    counted: Usage | None = None
    extra: dict = field(default_factory=dict)
    index: int = 0  # the choice this piece belongs to
    tool_calls: tuple[ToolCallDelta, ...] = ()
    refusal: str | None = None  # a fragment of a refusal
    logprobs: Any = None  # this piece's logprobs object (OpenAI's shape)
    thinking: ThinkingDelta | None = None  # Anthropic: a piece of a thinking block
    stop_sequence: str | None = None  # the last chunk: which stop sequence ended the answer, if said


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of a streamed thinking block: `block` numbers the answer's thinking blocks
    (0, 1...), a new number starts a new block. A redacted block comes whole (`redacted`)."""

    block: int
    text: str = ""
    signature: str = ""
    redacted: str | None = None


# --- embeddings -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """What an embedding adapter is asked (OpenAI's /embeddings model). `model` is upstream."""

    model: str
    inputs: tuple[str, ...]  # at least one; token-id arrays are refused at the interface
    dimensions: int | None = None
    encoding_format: str | None = None  # "float" | "base64" (None: float)
    user: str | None = None


@dataclass(slots=True)
class Embeddings:
    """One vector per input, in input order. A vector is a list of floats, or (encoding
    "base64") the base64 text of its little-endian float32 array, as OpenAI sends it."""

    vectors: list[list[float] | str]
    usage: Usage  # input_tokens only
    model: str | None = None  # as the provider reported it
