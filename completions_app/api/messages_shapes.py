"""The declared shapes of Anthropic's Messages API as served at POST /v1/messages: the request
(which the route's parser enforces) and the answer, its stream events and its error body (which
the OpenAPI document shows and the tests check rendered answers against).

Content blocks are told apart by `type`. What a shape cannot say is checked in
messages_input.py (a tool_use only in an assistant turn, a tool_result only in a user turn and
answering an earlier tool_use; an image's data). Fields of Anthropic's API that the gateway's
request model cannot carry yet (NOT_YET: `container`, `mcp_servers`, `citations`...) are not
declared: each is refused by name with a 400 that says so (messages_input.not_yet).
`cache_control` (on system, text, image, tool_use and tool_result blocks and on tools), `top_k`,
`thinking`, an assistant turn's thinking blocks, `document` blocks and `service_tier` are carried: sent as given to `anthropic` providers, refused by name by the kinds that
have no such field.
"""

from __future__ import annotations

from .chat_shapes import JSON_SCHEMA, TOOL_NAME_RULE, Tagged
from .shapes import Array, Bool, Int, Number, Object, OneOf, Str

# As declarations.MODEL and MAX_TOKENS_FIELD (declarations.py imports this module).
MODEL = Str(min_len=1, max_len=256, description="A model name from GET /v1/models.")
MAX_TOKENS_FIELD = Int(minimum=1, maximum=1_000_000, description="Most tokens to generate (required).")

# Anthropic request fields (top level or on blocks and tools) the request model has no place for
# yet. The next step: pass them as sent to `anthropic` providers (issue 16), refuse them for others.
NOT_YET = frozenset(
    (
        "container", "mcp_servers", "context_management",
        "citations", "inference_geo", "speed", "diagnostics", "user_profile_id", "workspace_id", "prefill",
    )
)  # fmt: skip
VERSION_HEADER = "anthropic-version"

# --- the request --------------------------------------------------------------------------------
CACHE_CONTROL = Object(
    "AnthropicCacheControl",
    {
        "type": Str(enum=("ephemeral",)),
        "ttl": Str(enum=("5m", "1h"), description="How long the prefix stays cached (5m by default)."),
    },
    required=("type",),
    description="A prompt-cache breakpoint: sent as given to anthropic providers; other kinds refuse it.",
)
TEXT_BLOCK = Object(
    "AnthropicTextBlock",
    {"type": Str(enum=("text",)), "text": Str(), "cache_control": CACHE_CONTROL},
    required=("type", "text"),
)
ANSWER_TEXT = Object("AnthropicAnswerText", {"type": Str(enum=("text",)), "text": Str()}, required=("type", "text"))
IMAGE_SOURCE = Tagged(
    Object(
        "AnthropicBase64Source",
        {
            "type": Str(enum=("base64",)),
            "media_type": Str(enum=("image/jpeg", "image/png", "image/gif", "image/webp")),
            "data": Str(min_len=1, description="The image, base64."),
        },
        required=("type", "media_type", "data"),
    ),
    Object(
        "AnthropicUrlSource",
        {"type": Str(enum=("url",)), "url": Str(min_len=1, description="https://...")},
        required=("type", "url"),
    ),
    discriminator="type",
)
IMAGE_BLOCK = Object(
    "AnthropicImageBlock",
    {"type": Str(enum=("image",)), "source": IMAGE_SOURCE, "cache_control": CACHE_CONTROL},
    required=("type", "source"),
)
TOOL_USE_BLOCK = Object(
    "AnthropicToolUseBlock",
    {
        "type": Str(enum=("tool_use",)),
        "id": Str(min_len=1, max_len=256),
        "name": Str(description=TOOL_NAME_RULE),
        "input": Object(None, {}, extra="keep", description="The call's arguments."),
        "cache_control": CACHE_CONTROL,
    },
    required=("type", "id", "name", "input"),
    description="An earlier answer's tool call (assistant turns only).",
)
TOOL_RESULT_BLOCK = Object(
    "AnthropicToolResultBlock",
    {
        "type": Str(enum=("tool_result",)),
        "tool_use_id": Str(min_len=1, max_len=256, description="The tool_use it answers."),
        "content": OneOf(Str(), Array(Tagged(TEXT_BLOCK, IMAGE_BLOCK, discriminator="type"))),
        "is_error": Bool(description="true: the content is sent prefixed with `Error: `."),
        "cache_control": CACHE_CONTROL,
    },
    required=("type", "tool_use_id"),
    description="A tool's result (user turns only), answering a tool_use of an earlier assistant turn.",
)
DOCUMENT_BLOCK = Object(
    "AnthropicDocumentBlock",
    {
        "type": Str(enum=("document",)),
        "source": Object(
            "AnthropicDocumentSource",
            {"type": Str(enum=("base64", "url", "text", "content", "file"))},
            required=("type",),
            extra="keep",
            description="As Anthropic takes it (a PDF in base64 or by URL, plain text, content blocks, a file id).",
        ),
        "title": Str(),
        "context": Str(),
        "cache_control": CACHE_CONTROL,
    },
    required=("type", "source"),
    description="A document (user turns): sent as given to anthropic providers; other kinds refuse it. "
    "`citations` is not carried yet (the answer's citations have no place in the gateway's answer).",
)
THINKING_BLOCK = Object(
    "AnthropicThinkingBlock",
    {"type": Str(enum=("thinking",)), "thinking": Str(), "signature": Str()},
    required=("type", "thinking", "signature"),
    description="An earlier answer's thinking, passed back unmodified (assistant turns, before other blocks).",
)
REDACTED_THINKING_BLOCK = Object(
    "AnthropicRedactedThinkingBlock",
    {"type": Str(enum=("redacted_thinking",)), "data": Str()},
    required=("type", "data"),
    description="An earlier answer's redacted thinking, passed back unmodified.",
)
BLOCK = Tagged(
    TEXT_BLOCK,
    IMAGE_BLOCK,
    TOOL_USE_BLOCK,
    TOOL_RESULT_BLOCK,
    THINKING_BLOCK,
    REDACTED_THINKING_BLOCK,
    DOCUMENT_BLOCK,
    discriminator="type",
)
THINKING = Object(
    "AnthropicThinking",
    {
        "type": Str(enum=("enabled", "disabled", "adaptive")),
        "budget_tokens": Int(minimum=1, description="type `enabled`: at least 1024, under max_tokens."),
        "display": Str(enum=("summarized", "omitted")),
    },
    required=("type",),
    description="Sent as given to anthropic providers; the other kinds refuse it.",
)
MESSAGE = Object(
    "AnthropicMessage",
    {
        "role": Str(enum=("user", "assistant")),
        "content": OneOf(Str(), Array(BLOCK, min_items=1), description="Text, or content blocks in order."),
    },
    required=("role", "content"),
)
TOOL = Object(
    "AnthropicTool",
    {
        "type": Str(enum=("custom",), description="Client tools only (server tools are refused)."),
        "name": Str(description=f"{TOOL_NAME_RULE} Unique among the tools."),
        "description": Str(),
        "input_schema": JSON_SCHEMA,
        "strict": Bool(),
        "cache_control": CACHE_CONTROL,
    },
    required=("name", "input_schema"),
)
TOOL_CHOICE = Object(
    "AnthropicToolChoice",
    {
        "type": Str(enum=("auto", "any", "tool", "none")),
        "name": Str(description="type `tool`: the tool to call."),
        "disable_parallel_tool_use": Bool(description="true: at most one tool call."),
    },
    required=("type",),
)
OUTPUT_CONFIG = Object(
    "AnthropicOutputConfig",
    {
        "effort": Str(enum=("low", "medium", "high")),
        "format": Object(
            "AnthropicOutputFormat",
            {"type": Str(enum=("json_schema",)), "schema": JSON_SCHEMA},
            required=("type", "schema"),
        ),
    },
)
MESSAGES_REQUEST = Object(
    "MessagesRequest",
    {
        "model": MODEL,
        "max_tokens": MAX_TOKENS_FIELD,
        "messages": Array(MESSAGE, min_items=1, description="The conversation, oldest first."),
        "system": OneOf(
            Str(),
            Array(TEXT_BLOCK),
            description="Instructions; text blocks are joined, unless one carries cache_control (then, to an "
            "anthropic provider, they are sent as the same blocks).",
        ),
        "metadata": Object("AnthropicMetadata", {"user_id": Str(max_len=256, description="The end user.")}),
        "stop_sequences": Array(Str(min_len=1), max_items=16),
        "stream": Bool(default=False, description="Answer with Anthropic's Server-Sent Events."),
        "temperature": Number(minimum=0, maximum=1, description="0 makes the answer cacheable."),
        "top_p": Number(minimum=0, maximum=1),
        "top_k": Int(minimum=1, description="anthropic and ollama providers; openai refuses it."),
        "thinking": THINKING,
        "service_tier": Str(enum=("auto", "standard_only"), description="anthropic providers only."),
        "tools": Array(TOOL, max_items=128),
        "tool_choice": TOOL_CHOICE,
        "output_config": OUTPUT_CONFIG,
    },
    required=("model", "max_tokens", "messages"),
    example={"model": "claude-3-5-haiku", "max_tokens": 50, "messages": [{"role": "user", "content": "Say hello."}]},
)

# --- the answer ---------------------------------------------------------------------------------
USAGE = Object(
    "AnthropicUsage",
    {
        "input_tokens": Int(minimum=0, description="Cache reads and writes not included."),
        "output_tokens": Int(minimum=0),
        "cache_read_input_tokens": Int(minimum=0),
        "cache_creation_input_tokens": Int(minimum=0),
        "cache_creation": Object(
            "AnthropicCacheCreation",
            {
                "ephemeral_5m_input_tokens": Int(minimum=0),
                "ephemeral_1h_input_tokens": Int(minimum=0, description="Priced at the model's 1-hour write price."),
            },
            required=("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"),
        ),
    },
    required=("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"),
)
ANSWER_TOOL_USE = Object(
    "AnthropicAnswerToolUse",
    {
        "type": Str(enum=("tool_use",)),
        "id": Str(),
        "name": Str(),
        "input": Object(None, {}, extra="keep"),
    },
    required=("type", "id", "name", "input"),
)
STOP_REASON = Str(enum=("end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"), nullable=True)
MESSAGE_FIELDS = {
    "id": Str(description="msg_ and the request id."),
    "type": Str(enum=("message",)),
    "role": Str(enum=("assistant",)),
    "model": Str(description="As requested."),
    "content": Array(
        Tagged(THINKING_BLOCK, REDACTED_THINKING_BLOCK, ANSWER_TEXT, ANSWER_TOOL_USE, discriminator="type")
    ),
    "stop_reason": STOP_REASON,
    "stop_sequence": Str(nullable=True),
    "usage": USAGE,
}
MESSAGES_RESPONSE = Object("MessagesResponse", MESSAGE_FIELDS, required=tuple(MESSAGE_FIELDS))

_INDEX = Int(minimum=0, description="The content block's position.")
ERROR_OBJECT = Object(
    "AnthropicErrorObject",
    {
        "type": Str(description="invalid_request_error, authentication_error, rate_limit_error, overloaded_error..."),
        "message": Str(description="Safe to show; names the field at fault when one is."),
        "param": Str(description="The request field at fault, when one is (not in Anthropic's own errors)."),
    },
    required=("type", "message"),
)
MESSAGES_ERROR = Object(
    "AnthropicError",
    {"type": Str(enum=("error",)), "error": ERROR_OBJECT, "request_id": Str()},
    required=("type", "error"),
    description="Every error of /v1/messages, and a stream's last event when it is cut after its start.",
)
MESSAGES_EVENT = Tagged(
    Object(
        "MessageStartEvent",
        {"type": Str(enum=("message_start",)), "message": Object("MessageStartMessage", MESSAGE_FIELDS)},
        required=("type", "message"),
        description="usage: the input and cache counts when the provider sent them first (anthropic "
        "providers), else 0; the final ones are on message_delta.",
    ),
    Object(
        "ContentBlockStartEvent",
        {
            "type": Str(enum=("content_block_start",)),
            "index": _INDEX,
            "content_block": Tagged(
                THINKING_BLOCK, REDACTED_THINKING_BLOCK, ANSWER_TEXT, ANSWER_TOOL_USE, discriminator="type"
            ),
        },
        required=("type", "index", "content_block"),
    ),
    Object(
        "ContentBlockDeltaEvent",
        {
            "type": Str(enum=("content_block_delta",)),
            "index": _INDEX,
            "delta": Tagged(
                Object("TextDelta", {"type": Str(enum=("text_delta",)), "text": Str()}, required=("type", "text")),
                Object(
                    "InputJsonDelta",
                    {"type": Str(enum=("input_json_delta",)), "partial_json": Str()},
                    required=("type", "partial_json"),
                ),
                Object(
                    "ThinkingDelta",
                    {"type": Str(enum=("thinking_delta",)), "thinking": Str()},
                    required=("type", "thinking"),
                ),
                Object(
                    "SignatureDelta",
                    {"type": Str(enum=("signature_delta",)), "signature": Str()},
                    required=("type", "signature"),
                ),
                discriminator="type",
            ),
        },
        required=("type", "index", "delta"),
    ),
    Object(
        "ContentBlockStopEvent",
        {"type": Str(enum=("content_block_stop",)), "index": _INDEX},
        required=("type", "index"),
    ),
    Object(
        "MessageDeltaEvent",
        {
            "type": Str(enum=("message_delta",)),
            "delta": Object(
                "MessageDeltaBody",
                {"stop_reason": STOP_REASON, "stop_sequence": Str(nullable=True)},
                required=("stop_reason", "stop_sequence"),
            ),
            "usage": USAGE,
        },
        required=("type", "delta", "usage"),
        description="usage: the whole answer's counts (input and cache counts included).",
    ),
    Object("MessageStopEvent", {"type": Str(enum=("message_stop",))}, required=("type",)),
    Object("PingEvent", {"type": Str(enum=("ping",))}, required=("type",)),
    Object("ErrorEvent", {"type": Str(enum=("error",)), "error": ERROR_OBJECT}, required=("type", "error")),
    discriminator="type",
    description="Each event's data; its `event:` line names its type.",
)

# --- POST /v1/messages/count_tokens (models on an `anthropic` provider) ---------------------------
COUNT_TOKENS_REQUEST = Object(
    "MessagesCountTokensRequest",
    {
        "model": MODEL,
        "messages": MESSAGES_REQUEST.fields["messages"],
        "system": MESSAGES_REQUEST.fields["system"],
        "tools": MESSAGES_REQUEST.fields["tools"],
        "tool_choice": TOOL_CHOICE,
        "output_config": OUTPUT_CONFIG,
        "thinking": THINKING,
    },
    required=("model", "messages"),
    example={"model": "claude-3-5-haiku", "messages": [{"role": "user", "content": "Say hello."}]},
)
COUNT_TOKENS_RESPONSE = Object(
    "MessageTokensCount",
    {"input_tokens": Int(minimum=0, description="The request's input tokens, as the provider counts them.")},
    required=("input_tokens",),
)
