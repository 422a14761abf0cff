"""The declared pieces of a chat request past plain text, shared by /v1/chat/completions and
/v1/complete (declarations.py): messages by role (images, tool calls, tool results), tools,
tool_choice, response_format; and the pieces of an answer (tool calls, logprobs).

Messages are told apart by role, so each role declares only what it may carry (images in
user messages, tool_calls in assistant ones, tool_call_id in tool results). What a shape
cannot say is checked after it: in chat_input.py (an assistant message needs content or
tool_calls; logit_bias and metadata keys) and in the service (services/chat_checks.py: tool
names, a tool_choice naming a declared tool, a tool result answering an earlier call, image
data URLs). Each of those is a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

from .shapes import Array, Bool, Check, Int, Number, Object, OneOf, Shape, Str


class Tagged(OneOf):
    """Objects told apart by a discriminator field only; "must be an object" otherwise."""

    def __init__(self, *alternatives: Object, discriminator: str, **kw: Any) -> None:
        super().__init__(*alternatives, discriminator=discriminator, **kw)

    def compile(self) -> Check:
        self.noun = "an object"
        return super().compile()


TOOL_NAME_RULE = "1-64 characters of A-Z a-z 0-9 _ -."
# A JSON Schema, kept as is (a tool's parameters, a json_schema): of type object when a type is given.
JSON_SCHEMA = Object(
    None,
    {"type": Str(enum=("object",))},
    extra="keep",
    description="A JSON Schema of an object, passed on as is.",
)

# --- messages ------------------------------------------------------------------------------
TEXT_PART = Object(
    "TextPart",
    {"type": Str(enum=("text",)), "text": Str()},
    required=("type", "text"),
)
IMAGE_PART = Object(
    "ImagePart",
    {
        "type": Str(enum=("image_url",)),
        "image_url": Object(
            "ImageUrl",
            {
                "url": Str(
                    min_len=1,
                    description="https://..., or a base64 data URL of a PNG, JPEG, GIF or WebP image "
                    "(data:image/png;base64,...). Some providers take data URLs only.",
                ),
                "detail": Str(enum=("auto", "low", "high")),
            },
            required=("url",),
        ),
    },
    required=("type", "image_url"),
)
FILE_PART = Object(
    "FilePart",
    {
        "type": Str(enum=("file",)),
        "file": Object(
            "FileData",
            {
                "file_data": Str(
                    min_len=1, description="A base64 data URL of a PDF (data:application/pdf;base64,...)."
                ),
                "file_id": Str(min_len=1, max_len=256, description="A file of the provider's Files API (openai only)."),
                "filename": Str(max_len=256),
            },
            exactly_one_of=("file_data", "file_id"),
        ),
    },
    required=("type", "file"),
    description="openai: passed; anthropic: a PDF is sent as a document block; ollama: refused.",
)
TEXT = OneOf(Str(), Array(TEXT_PART), description="Text, or a list of text parts (joined).")
USER_CONTENT = OneOf(
    Str(),
    Array(Tagged(TEXT_PART, IMAGE_PART, FILE_PART, discriminator="type")),
    description="Text, or a list of text, image and file parts (in order).",
)
NAME = Str(max_len=256, description="The participant's name.")
_ROLE_ALIAS = "`developer` is `system`."


def _message(name: str, role: str, fields: dict[str, Shape], required: tuple[str, ...], description: str) -> Object:
    return Object(
        name,
        {"role": Str(enum=(role,)), **fields},
        required=("role", *required),
        description=f"{description} Any other field is refused by name (e.g. `cache_control`, `audio`).",
    )


TOOL_CALL = Object(
    "ToolCall",
    {
        "id": Str(min_len=1, max_len=256),
        "type": Str(enum=("function",), default="function"),
        "function": Object(
            "ToolCallFunction",
            {
                "name": Str(description=TOOL_NAME_RULE),
                "arguments": Str(description="JSON text, as the model wrote it."),
            },
            required=("name", "arguments"),
        ),
    },
    required=("id", "function"),
)
MESSAGE = Tagged(
    _message("SystemMessage", "system", {"content": TEXT, "name": NAME}, ("content",), "Instructions."),
    _message("DeveloperMessage", "developer", {"content": TEXT, "name": NAME}, ("content",), _ROLE_ALIAS),
    _message("UserMessage", "user", {"content": USER_CONTENT, "name": NAME}, ("content",), "The user's turn."),
    _message(
        "AssistantMessage",
        "assistant",
        {
            "content": TEXT,
            "name": NAME,
            "tool_calls": Array(TOOL_CALL, min_items=1, max_items=128),
            "refusal": Str(description="A refusal the model gave: its text stands for `content` when that is empty."),
            # An earlier answer's citations, as the SDKs echo them back: they describe that
            # answer, and are not sent on.
            "annotations": Array(Object(None, {}, extra="keep"), description="Accepted and not sent on."),
        },
        (),
        "An earlier answer: `content` may be left out (or null) when it has `tool_calls`.",
    ),
    _message(
        "ToolMessage",
        "tool",
        {"content": TEXT, "tool_call_id": Str(min_len=1, max_len=256, description="The call it answers.")},
        ("content", "tool_call_id"),
        "A tool's result, answering a call of an earlier assistant message.",
    ),
    discriminator="role",
)
MESSAGES = Array(MESSAGE, min_items=1, description="The conversation, oldest first.")

# --- tools, tool_choice, response_format -----------------------------------------------------
TOOL = Object(
    "Tool",
    {
        "type": Str(enum=("function",)),
        "function": Object(
            "FunctionDefinition",
            {
                "name": Str(description=f"{TOOL_NAME_RULE} Unique among the tools."),
                "description": Str(),
                "parameters": JSON_SCHEMA,
                "strict": Bool(),
            },
            required=("name",),
        ),
    },
    required=("type", "function"),
)
TOOLS = Array(TOOL, max_items=128, description="Functions the model may call.")
TOOL_CHOICE = OneOf(
    Str(enum=("auto", "none", "required")),
    Object(
        "NamedToolChoice",
        {
            "type": Str(enum=("function",)),
            "function": Object("NamedFunction", {"name": Str(description="One of `tools`.")}, required=("name",)),
        },
        required=("type", "function"),
    ),
    description="Whether and which tool the model must call (needs `tools`, except `none`).",
)
PARALLEL_TOOL_CALLS = Bool(description="false: at most one tool call per answer (needs `tools`).")
RESPONSE_FORMAT = Tagged(
    Object("ResponseFormatText", {"type": Str(enum=("text",))}, required=("type",)),
    Object("ResponseFormatJsonObject", {"type": Str(enum=("json_object",))}, required=("type",)),
    Object(
        "ResponseFormatJsonSchema",
        {
            "type": Str(enum=("json_schema",)),
            "json_schema": Object(
                "JsonSchemaFormat",
                {
                    "name": Str(description=TOOL_NAME_RULE),
                    "schema": JSON_SCHEMA,
                    "strict": Bool(),
                    "description": Str(),
                },
                required=("name", "schema"),
            ),
        },
        required=("type", "json_schema"),
    ),
    discriminator="type",
    description="text (the default), any JSON object, or JSON that fits a schema.",
)
SEED = Int(minimum=-(2**63), maximum=2**63 - 1, description="Best-effort determinism, where the provider has it.")

# --- answers ---------------------------------------------------------------------------------
_TOP_LOGPROB = {"token": Str(), "logprob": Number(), "bytes": Array(Int(), nullable=True)}
TOKEN_LOGPROB = Object(
    "TokenLogprob",
    {**_TOP_LOGPROB, "top_logprobs": Array(Object("TopLogprob", _TOP_LOGPROB, required=("token", "logprob")))},
    required=("token", "logprob"),
    extra="keep",
)
LOGPROBS = Object(
    "ChoiceLogprobs",
    {"content": Array(TOKEN_LOGPROB, nullable=True), "refusal": Array(TOKEN_LOGPROB, nullable=True)},
    extra="keep",
    nullable=True,
    description="With `logprobs: true`, as the provider gave them; else null.",
)
ANSWER_TOOL_CALL = Object(
    "ChatToolCall",
    {
        "id": Str(),
        "type": Str(enum=("function",)),
        "function": Object(
            "ChatToolCallFunction",
            {"name": Str(), "arguments": Str(description="JSON text, as the model wrote it.")},
            required=("name", "arguments"),
        ),
    },
    required=("id", "type", "function"),
)
TOOL_CALL_DELTA = Object(
    "ChatToolCallDelta",
    {
        "index": Int(minimum=0, description="Which call of the answer this piece belongs to."),
        "id": Str(description="On a call's first piece only."),
        "type": Str(enum=("function",), description="On a call's first piece only."),
        "function": Object(
            "ChatToolCallDeltaFunction",
            {"name": Str(description="On a call's first piece only."), "arguments": Str()},
        ),
    },
    required=("index",),
)
