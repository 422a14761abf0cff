"""The /v1 operations, declared once: their request fields (which the route's parser enforces,
parsing.parse_body) and their answers, errors and headers (which the OpenAPI document shows,
openapi.py). fast_routes.SERVED pairs each operation with the call that serves it.

Answers are not checked at run time (the calls render them); the tests check the rendered
answers against these shapes, and schemathesis checks the served ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from .chat_shapes import (
    ANSWER_TOOL_CALL,
    LOGPROBS,
    MESSAGES,
    PARALLEL_TOOL_CALLS,
    RESPONSE_FORMAT,
    SEED,
    TOOL_CALL_DELTA,
    TOOL_CHOICE,
    TOOLS,
)
from .embedding_shapes import EMBEDDING_REQUEST, EMBEDDING_RESPONSE
from .messages_shapes import (
    COUNT_TOKENS_REQUEST,
    COUNT_TOKENS_RESPONSE,
    MESSAGES_ERROR,
    MESSAGES_EVENT,
    MESSAGES_REQUEST,
    MESSAGES_RESPONSE,
)
from .shapes import Array, Bool, Int, Map, Number, Object, OneOf, Shape, Str
from .usage_shapes import USAGE_REPORT

MAX_TOKENS = 1_000_000  # the completion service refuses more (services/completion.py)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    answer: Shape  # the 200 body
    request: Object | None = None  # the JSON body, parsed by the route against this shape
    stream_event: Shape | None = None  # `stream: true`: the data of each Server-Sent Event
    auth: bool = True
    errors: tuple[int, ...] = ()  # statuses answered with the Error body
    error: Shape | None = None  # the error body when it is not ERROR (Anthropic's, on /v1/messages)
    answer_statuses: tuple[int, ...] = (200,)  # statuses answered with `answer`
    result_headers: tuple[str, ...] = ()  # names in HEADERS sent with the answer
    description: str = ""
    request_headers: tuple[str, ...] = ()  # names in HEADERS a client may send


# --- headers (common.py and errors.py send them) ---------------------------------------
HEADERS = {
    "x-request-id": "The request's id (the client's own when it sent a sane one); on its record.",
    "x-aiproxy-provider": "The provider that answered (after failover, the fallback's).",
    "x-aiproxy-cache": "HIT when the answer came from the response cache, else MISS.",
    "x-aiproxy-cost-usd": "What the call cost, exact decimal; 0 for a cache hit or an error. "
    "Streams carry it in their last event instead.",
    "Retry-After": "Seconds to wait before retrying (rate limits, open breakers, overload).",
    "Cache-Control": "`no-cache` bypasses the response cache for this request.",
}
COMPLETION_HEADERS = ("x-request-id", "x-aiproxy-provider", "x-aiproxy-cache", "x-aiproxy-cost-usd")
ERROR_HEADERS = ("x-request-id", "x-aiproxy-cache", "x-aiproxy-cost-usd")  # + Retry-After on 429 and 503

# --- shared pieces (messages, tools and the rest: chat_shapes.py) ------------------------------
MODEL = Str(min_len=1, max_len=256, description="A model name from GET /v1/models.")
MAX_TOKENS_FIELD = Int(minimum=1, maximum=MAX_TOKENS, description="Most tokens to generate.")
STOP = OneOf(Str(), Array(Str(min_len=1), max_items=16), description="A stop sequence, or up to 16.")
SAMPLING = {
    "temperature": Number(minimum=0, maximum=2, description="0 makes the answer cacheable."),
    "top_p": Number(minimum=0, maximum=1),
    "stop": STOP,
    "stream": Bool(default=False, description="Answer with Server-Sent Events."),
    "cache": Bool(default=True, description="false: neither read nor write the response cache."),
    "user": Str(max_len=256, description="The end user, for the record."),
}

# What both completion calls take past plain text (the OpenAI-only ones are in CHAT_REQUEST).
RICH: dict[str, Shape] = {
    "tools": TOOLS,
    "tool_choice": TOOL_CHOICE,
    "parallel_tool_calls": PARALLEL_TOOL_CALLS,
    "response_format": RESPONSE_FORMAT,
    "seed": SEED,
}

ERROR = Object(
    "Error",
    {
        "error": Object(
            "ErrorBody",
            {
                "type": Str(description="What went wrong, e.g. invalid_request_error, upstream_timeout."),
                "message": Str(description="Safe to show; never a secret."),
                "param": Str(nullable=True, description="The request field at fault, if one is."),
                "code": Str(description="Same as `type` (OpenAI's error shape)."),
            },
            required=("type", "message", "param", "code"),
        )
    },
    required=("error",),
    description="Every error, with the HTTP status. A stream cut after its start ends with this as its last event.",
)

# --- POST /v1/complete ------------------------------------------------------------------------
COMPLETE_REQUEST = Object(
    "CompleteRequest",
    {
        "model": MODEL,
        "prompt": Str(min_len=1, max_len=10_000_000, description="A single user message; or send `messages`."),
        "messages": MESSAGES,
        "max_tokens": MAX_TOKENS_FIELD,
        **SAMPLING,
        **RICH,
    },
    required=("model",),
    exactly_one_of=("prompt", "messages"),
    example={"model": "gpt-4o-mini", "prompt": "Say hello.", "max_tokens": 50, "temperature": 0},
)
USAGE = Object(
    "Usage",
    {
        "input_tokens": Int(minimum=0),
        "output_tokens": Int(minimum=0),
        "cache_read_tokens": Int(minimum=0),
        "cache_write_tokens": Int(minimum=0),
        "reasoning_tokens": Int(minimum=0, description="Of output_tokens, those spent reasoning."),
    },
    required=("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"),
)
_COMPLETE_FIELDS: dict[str, Shape] = {
    "id": Str(description="The request id."),
    "text": Str(),
    "model": Str(description="As requested."),
    "served_model": Str(description="The model that answered (a fallback, perhaps)."),
    "provider": Str(),
    "finish_reason": Str(nullable=True, description="stop, length, tool_calls or content_filter."),
    "tool_calls": Array(
        Object(
            "CompleteToolCall",
            {"id": Str(), "name": Str(), "arguments": Str(description="JSON text, as the model wrote it.")},
            required=("id", "name", "arguments"),
        ),
        description="The tools the model asked to call (empty when none).",
    ),
    "refusal": Str(nullable=True, description="The model's refusal, if it refused."),
    "usage": USAGE,
    "usage_estimated": Bool(description="true when the provider reported no usage and it was counted here."),
    "cost_usd": Str(description="Exact decimal, as a string."),
    "cached": Bool(),
    "latency_ms": Number(minimum=0),
}
COMPLETE_RESPONSE = Object("CompleteResponse", _COMPLETE_FIELDS, required=tuple(_COMPLETE_FIELDS))
_NULL_AFTER_FIRST = "null after a call's first piece."
COMPLETE_EVENT = OneOf(
    Object("CompleteDelta", {"type": Str(enum=("delta",)), "text": Str()}, required=("type", "text")),
    Object(
        "CompleteToolCallDelta",
        {
            "type": Str(enum=("tool_call",)),
            "index": Int(minimum=0, description="Which call of the answer this piece belongs to."),
            "id": Str(nullable=True, description=_NULL_AFTER_FIRST),
            "name": Str(nullable=True, description=_NULL_AFTER_FIRST),
            "arguments": Str(description="A fragment of the call's JSON arguments."),
        },
        required=("type", "index", "id", "name", "arguments"),
    ),
    Object("CompleteRefusalDelta", {"type": Str(enum=("refusal",)), "text": Str()}, required=("type", "text")),
    Object(
        "CompleteDone",
        {"type": Str(enum=("done",)), **_COMPLETE_FIELDS},
        required=("type", *_COMPLETE_FIELDS),
        description="The last event: the whole answer's record.",
    ),
    discriminator="type",
)

# --- POST /v1/chat/completions ----------------------------------------------------------------
CHAT_REQUEST = Object(
    "ChatCompletionRequest",
    {
        "model": MODEL,
        "messages": MESSAGES,
        "max_tokens": MAX_TOKENS_FIELD,
        "max_completion_tokens": Int(minimum=1, maximum=MAX_TOKENS, description="Wins over `max_tokens`."),
        **SAMPLING,
        "stream_options": Object(
            "StreamOptions",
            {"include_usage": Bool(default=False, description="A last chunk with `usage` and no choices.")},
        ),
        **RICH,
        "n": Int(minimum=1, maximum=16, description="How many answers (choices)."),
        "presence_penalty": Number(minimum=-2, maximum=2),
        "frequency_penalty": Number(minimum=-2, maximum=2),
        "logit_bias": Map(
            Number(minimum=-100, maximum=100), description="Token id (a string of digits) -> bias, -100 to 100."
        ),
        "logprobs": Bool(description="Log probabilities of the answer's tokens."),
        "top_logprobs": Int(minimum=0, maximum=20, description="Needs `logprobs: true`."),
        "metadata": Map(
            Str(max_len=512), max_items=16, description="Up to 16 keys (64 characters) and values (512), as given."
        ),
        "reasoning_effort": Str(enum=("minimal", "low", "medium", "high")),
    },
    required=("model", "messages"),
    example={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}]},
)
CHAT_USAGE = Object(
    "ChatUsage",
    {
        "prompt_tokens": Int(minimum=0, description="Cached input tokens included."),
        "completion_tokens": Int(minimum=0),
        "total_tokens": Int(minimum=0),
        "prompt_tokens_details": Object(
            "PromptTokensDetails", {"cached_tokens": Int(minimum=0)}, required=("cached_tokens",)
        ),
        "completion_tokens_details": Object(
            "CompletionTokensDetails",
            {"reasoning_tokens": Int(minimum=0, description="Of completion_tokens, those spent reasoning.")},
            required=("reasoning_tokens",),
        ),
    },
    required=(
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    ),
)
_ANSWER_CHOICE = Object(
    "ChatChoice",
    {
        "index": Int(minimum=0),
        "message": Object(
            "ChatAnswerMessage",
            {
                "role": Str(enum=("assistant",)),
                "content": Str(nullable=True, description="null when the answer is tool calls (or a refusal) only."),
                "tool_calls": Array(ANSWER_TOOL_CALL, description="Only when the model calls tools."),
                "refusal": Str(nullable=True),
            },
            required=("role", "content", "refusal"),
        ),
        "finish_reason": Str(description="stop, length, tool_calls or content_filter."),
        "logprobs": LOGPROBS,
    },
    required=("index", "message", "finish_reason", "logprobs"),
)
_CHAT_BASE: dict[str, Shape] = {"id": Str(), "created": Int(minimum=0), "model": Str(description="As requested.")}
CHAT_RESPONSE = Object(
    "ChatCompletion",
    {
        **_CHAT_BASE,
        "object": Str(enum=("chat.completion",)),
        "choices": Array(_ANSWER_CHOICE),
        "usage": CHAT_USAGE,
        "system_fingerprint": Str(nullable=True),
    },
    required=("id", "object", "created", "model", "choices", "usage", "system_fingerprint"),
)
CHAT_CHUNK = Object(
    "ChatCompletionChunk",
    {
        **_CHAT_BASE,
        "object": Str(enum=("chat.completion.chunk",)),
        "choices": Array(
            Object(
                "ChatChunkChoice",
                {
                    "index": Int(minimum=0),
                    "delta": Object(
                        "ChatDelta",
                        {
                            "role": Str(enum=("assistant",), description="On each choice's first chunk."),
                            "content": Str(),
                            "tool_calls": Array(TOOL_CALL_DELTA),
                            "refusal": Str(),
                        },
                    ),
                    "finish_reason": Str(nullable=True),
                    "logprobs": LOGPROBS,
                },
                required=("index", "delta", "finish_reason", "logprobs"),
            )
        ),
        "usage": CHAT_USAGE,
    },
    required=("id", "object", "created", "model", "choices"),
    description="Each event's data; the stream ends with `data: [DONE]`. With stream_options.include_usage, "
    "`usage` is null on every chunk but the last, which has no choices.",
)

# --- GET endpoints ---------------------------------------------------------------------------
MODEL_ENTRY = Object(
    "ModelEntry",
    {
        "id": Str(),
        "object": Str(enum=("model",)),
        "created": Int(minimum=0),
        "owned_by": Str(description="Its provider."),
        "mode": Str(enum=("chat", "embedding"), description="Which calls it serves: chat (completions) or embedding."),
    },
    required=("id", "object", "created", "owned_by", "mode"),
)
MODEL_LIST = Object(
    "ModelList", {"object": Str(enum=("list",)), "data": Array(MODEL_ENTRY)}, required=("object", "data")
)
HEALTH = Object(
    "Health",
    {"status": Str(enum=("ok", "degraded")), "database": Bool(), "cache": Bool()},
    required=("status", "database", "cache"),
)
_PROBE = {"healthy": Bool(nullable=True), "last_probe_latency_ms": Number(nullable=True)}
PROVIDER_STATUS_LIST = Object(
    "ProviderStatusList",
    {
        "providers": Array(
            Object(
                "ProviderStatus",
                {
                    "name": Str(),
                    "kind": Str(),
                    "enabled": Bool(),
                    **_PROBE,
                    "last_probe_at": Str(format="date-time", nullable=True),
                    "state": Str(enum=("closed", "open", "half-open"), description="The circuit breaker."),
                    "failures": Int(minimum=0),
                    "keys_enabled": Int(minimum=0),
                    "keys_cooling": Int(minimum=0, description="Keys resting after a rate limit."),
                    "keys": Array(
                        Object(
                            "KeyStatus",
                            {"label": Str(), "enabled": Bool(), **_PROBE},
                            required=("label", "enabled", *_PROBE),
                        )
                    ),
                },
                required=(
                    "name",
                    "kind",
                    "enabled",
                    *_PROBE,
                    "last_probe_at",
                    "state",
                    "failures",
                    "keys_enabled",
                    "keys_cooling",
                    "keys",
                ),
            )
        )
    },
    required=("providers",),
)

# --- the operations ----------------------------------------------------------------------------
# 400 also answers a Host not in ALLOWED_HOSTS; 413 a body over MAX_REQUEST_BYTES; 503 a
# process at MAX_IN_FLIGHT or without its database.
_BASE_ERRORS = (400, 413, 503)
# 429 also answers an unknown key from an address past AUTH_FAILURES_PER_MINUTE failed keys.
_AUTH_ERRORS = (*_BASE_ERRORS, 401, 429)
# 415: a body not labelled application/json (no label is fine), or encoded other than gzip.
_COMPLETION_ERRORS = (*_AUTH_ERRORS, 403, 404, 415, 502, 504)

CHAT_COMPLETIONS = Operation(
    "POST", "/v1/chat/completions", "chat_completions_create", "OpenAI-compatible chat completion", "OpenAI",
    answer=CHAT_RESPONSE, request=CHAT_REQUEST, stream_event=CHAT_CHUNK, errors=_COMPLETION_ERRORS,
    result_headers=COMPLETION_HEADERS, request_headers=("x-request-id", "Cache-Control"),
    description="Any model, any provider, in OpenAI's shapes: the openai SDK works by changing base_url.",
)  # fmt: skip
COMPLETE = Operation(
    "POST", "/v1/complete", "complete", "Complete a prompt or conversation (native shape)", "Native",
    answer=COMPLETE_RESPONSE, request=COMPLETE_REQUEST, stream_event=COMPLETE_EVENT, errors=_COMPLETION_ERRORS,
    result_headers=COMPLETION_HEADERS, request_headers=("x-request-id", "Cache-Control"),
)  # fmt: skip
EMBEDDINGS = Operation(
    "POST", "/v1/embeddings", "embeddings_create", "OpenAI-compatible embeddings", "OpenAI",
    answer=EMBEDDING_RESPONSE, request=EMBEDDING_REQUEST, errors=_COMPLETION_ERRORS,
    result_headers=COMPLETION_HEADERS, request_headers=("x-request-id", "Cache-Control"),
    description="An embedding model on an openai or ollama provider (an anthropic one, or a chat model, is a 400). "
    "Cached: a repeated request is a HIT with the first one's usage and cost 0.",
)  # fmt: skip
MODELS = Operation(
    "GET", "/v1/models", "models_list", "Models this client key may use", "OpenAI",
    answer=MODEL_LIST, errors=_AUTH_ERRORS, result_headers=("x-request-id",), request_headers=("x-request-id",),
)  # fmt: skip
MODEL_RETRIEVE = Operation(
    "GET", "/v1/models/{model}", "models_retrieve", "One model this client key may use", "OpenAI",
    answer=MODEL_ENTRY, errors=_AUTH_ERRORS + (404,), result_headers=("x-request-id",),
    request_headers=("x-request-id",),
    description="404 (`model_not_found`) for a model that does not exist or that this key may not use. "
    "The model's name is the rest of the path, slashes included.",
)  # fmt: skip
HEALTH_CHECK = Operation(
    "GET", "/v1/health", "health", "Liveness and dependencies (no key needed)", "Native",
    answer=HEALTH, auth=False, errors=_BASE_ERRORS, answer_statuses=(200, 503),
    description="503 with this body when a dependency is down; 503 with an Error body when overloaded.",
)  # fmt: skip
PROVIDERS_STATUS = Operation(
    "GET", "/v1/providers/status", "providers_status", "Breakers and keys per provider", "Native",
    answer=PROVIDER_STATUS_LIST, errors=_AUTH_ERRORS, result_headers=("x-request-id",),
    request_headers=("x-request-id",),
)  # fmt: skip
USAGE_GET = Operation(
    "GET", "/v1/usage", "usage_get", "This client key's and its team's limits, usage and what remains", "Native",
    answer=USAGE_REPORT, errors=_AUTH_ERRORS, result_headers=("x-request-id",), request_headers=("x-request-id",),
    description="Minutes are epoch minutes; days and months are calendar ones in TIME_ZONE. Counts no limit.",
)  # fmt: skip
MESSAGES = Operation(
    "POST", "/v1/messages", "messages_create", "Anthropic-compatible Messages API", "Anthropic",
    answer=MESSAGES_RESPONSE, request=MESSAGES_REQUEST, stream_event=MESSAGES_EVENT,
    errors=(400, 401, 403, 404, 413, 415, 429, 500, 504, 529), error=MESSAGES_ERROR,
    result_headers=COMPLETION_HEADERS, request_headers=("x-request-id", "Cache-Control"),
    description="Any model, any provider, in Anthropic's shapes: the anthropic SDK works by changing base_url. "
    "Errors are Anthropic's {type: error, error: {type, message}} (messages_shapes.MESSAGES_ERROR), with its "
    "statuses: 529 overloaded_error for an overloaded provider or an open breaker, 500 api_error for other "
    "upstream faults.",
)  # fmt: skip
MESSAGES_COUNT_TOKENS = Operation(
    "POST", "/v1/messages/count_tokens", "messages_count_tokens", "Anthropic's token counting", "Anthropic",
    answer=COUNT_TOKENS_RESPONSE, request=COUNT_TOKENS_REQUEST, errors=(400, 401, 403, 404, 413, 415, 429, 500, 504, 529),
    error=MESSAGES_ERROR, result_headers=("x-request-id", "x-aiproxy-provider"), request_headers=("x-request-id",),
    description="For a model on an anthropic provider (a 400 naming `model` for other kinds): the body is sent "
    "as given. Errors as on /v1/messages.",
)  # fmt: skip
