"""CompleteRequest (proto) -> CompletionInput: proto-level checks and shapes only.

The service validates the values (chat_checks.check_rich: tool names, tool turns, schemas
of type object...); here only what the proto shape itself leaves open: a role outside
ROLES, `content` and `parts` both set, JSON text that is not JSON, an enum left
unspecified. A plain request (role + content, none of fields 9-15) takes the same path
as before the rich fields existed and gets options=None.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiproxy.v1 import proxy_pb2 as pb
from completions_app.services.chat_checks import image_part
from completions_app.services.types import CompletionInput
from providers_app.adapters.types import (
    ROLES,
    ChatOptions,
    Message,
    Part,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from providers_app.errors import GatewayError, InvalidRequest

# Proto enum value -> the model's word. UNSPECIFIED (0) is absent: it is refused or inferred.
TOOL_CHOICE_MODES = {
    pb.ToolChoice.MODE_AUTO: "auto",
    pb.ToolChoice.MODE_NONE: "none",
    pb.ToolChoice.MODE_REQUIRED: "required",
    pb.ToolChoice.MODE_FUNCTION: "function",
}
RESPONSE_FORMAT_TYPES = {
    pb.ResponseFormat.TYPE_TEXT: "text",
    pb.ResponseFormat.TYPE_JSON_OBJECT: "json_object",
    pb.ResponseFormat.TYPE_JSON_SCHEMA: "json_schema",
}
PENALTY_LIMIT = 2.0  # presence/frequency penalties: -2 to 2, as OpenAI documents


def completion_input_from(request: pb.CompleteRequest) -> CompletionInput:
    if not request.model:
        raise InvalidRequest("'model' is required.", field="model")
    if request.prompt and request.messages:
        raise InvalidRequest("Send either 'prompt' or 'messages', not both.", field="messages")
    if request.prompt:
        messages: tuple[Message, ...] = (Message("user", request.prompt),)
    elif request.messages:
        messages = tuple(_message(i, m) for i, m in enumerate(request.messages))
    else:
        raise InvalidRequest("Send a 'prompt' or 'messages'.", field="prompt")
    return CompletionInput(
        model=request.model,
        messages=messages,
        # proto3 `optional` fields: unset means "the default", distinct from 0.
        max_tokens=request.max_tokens if request.HasField("max_tokens") else None,
        temperature=request.temperature if request.HasField("temperature") else None,
        top_p=request.top_p if request.HasField("top_p") else None,
        stop=tuple(request.stop),
        cache=request.cache if request.HasField("cache") else True,
        options=_options(request),
    )


# --- messages ---------------------------------------------------------------------------
def _message(i: int, m: pb.Message) -> Message:
    if m.role not in ROLES:
        raise InvalidRequest(f"messages[{i}].role must be one of {', '.join(ROLES)}.", field=f"messages[{i}].role")
    if not (m.parts or m.tool_calls or m.tool_call_id or m.name):
        if m.role == "tool":
            # Here, not only in the service: a message without rich fields reads as plain
            # text there (CompletionInput.plain), which skips the tool-turn checks.
            raise InvalidRequest(
                "A tool message needs the tool_call_id it answers.", field=f"messages[{i}].tool_call_id"
            )
        return Message(m.role, m.content)  # the plain path: as before the rich fields
    content, parts = m.content, ()
    if m.parts:
        if m.content:
            raise InvalidRequest(
                f"messages[{i}]: send either 'content' or 'parts', not both.", field=f"messages[{i}].parts"
            )
        content, parts = _parts(i, m.parts)
    return Message(
        m.role,
        content,
        parts=parts,
        tool_calls=tuple(_tool_call(f"messages[{i}].tool_calls[{j}]", c) for j, c in enumerate(m.tool_calls)),
        tool_call_id=m.tool_call_id or None,
        name=m.name or None,
    )


def _parts(i: int, parts: Any) -> tuple[str, tuple[Part, ...]]:
    """The text (text parts joined, as on REST) and, only when there is an image, every part
    in order: a text-only list of parts is plain content to every adapter."""
    out: list[Part] = []
    texts: list[str] = []
    has_image = False
    for j, p in enumerate(parts):
        field = f"messages[{i}].parts[{j}]"
        kind = p.WhichOneof("part")
        if kind == "text":
            texts.append(p.text)
            out.append(TextPart(p.text))
        elif kind == "image_url":
            has_image = True
            out.append(image_part(p.image_url.url, detail=p.image_url.detail or None, field=f"{field}.image_url.url"))
        else:
            raise InvalidRequest(f"{field} is empty: set 'text' or 'image_url'.", field=field)
    return "".join(texts), (tuple(out) if has_image else ())


def _tool_call(field: str, c: pb.ToolCall) -> ToolCall:
    arguments = c.arguments_json or "{}"
    _json(arguments, field=f"{field}.arguments_json")  # checked, but kept as the text it was
    return ToolCall(id=c.id, name=c.name, arguments=arguments)


# --- options ----------------------------------------------------------------------------
def _options(r: pb.CompleteRequest) -> ChatOptions | None:
    if not (
        r.tools
        or r.HasField("tool_choice")
        or r.HasField("parallel_tool_calls")
        or r.HasField("response_format")
        or r.HasField("seed")
        or r.HasField("presence_penalty")
        or r.HasField("frequency_penalty")
    ):
        return None
    return ChatOptions.given(
        tools=tuple(_tool(i, t) for i, t in enumerate(r.tools)),
        tool_choice=_tool_choice(r.tool_choice) if r.HasField("tool_choice") else None,
        parallel_tool_calls=r.parallel_tool_calls if r.HasField("parallel_tool_calls") else None,
        response_format=_response_format(r.response_format) if r.HasField("response_format") else None,
        seed=r.seed if r.HasField("seed") else None,
        presence_penalty=_penalty(r, "presence_penalty"),
        frequency_penalty=_penalty(r, "frequency_penalty"),
    )


def _tool(i: int, t: pb.Tool) -> Tool:
    return Tool(
        name=t.name,
        description=t.description or None,
        parameters=_json_object(t.parameters_json, field=f"tools[{i}].parameters_json") if t.parameters_json else None,
        strict=t.strict if t.HasField("strict") else None,
    )


def _tool_choice(c: pb.ToolChoice) -> ToolChoice:
    if c.mode == pb.ToolChoice.MODE_UNSPECIFIED:
        if not c.name:
            raise InvalidRequest(
                "tool_choice.mode is unspecified: set a mode, or a name (MODE_FUNCTION).", field="tool_choice.mode"
            )
        return ToolChoice("function", c.name)
    mode = TOOL_CHOICE_MODES.get(c.mode)
    if mode is None:
        raise InvalidRequest(f"tool_choice.mode {c.mode} is not a known mode.", field="tool_choice.mode")
    if mode == "function":
        if not c.name:
            raise InvalidRequest("tool_choice MODE_FUNCTION needs the tool's name.", field="tool_choice.name")
        return ToolChoice(mode, c.name)
    if c.name:
        raise InvalidRequest("tool_choice.name goes with MODE_FUNCTION only.", field="tool_choice.name")
    return ToolChoice(mode)


def _response_format(f: pb.ResponseFormat) -> ResponseFormat:
    kind = RESPONSE_FORMAT_TYPES.get(f.type)
    if kind is None:
        raise InvalidRequest(
            "response_format.type must be TYPE_TEXT, TYPE_JSON_OBJECT or TYPE_JSON_SCHEMA.",
            field="response_format.type",
        )
    if kind != "json_schema":
        given = [name for name in ("name", "schema_json", "description") if getattr(f, name)]
        if f.HasField("strict"):
            given.append("strict")
        if given:
            raise InvalidRequest(
                f"response_format.{given[0]} goes with TYPE_JSON_SCHEMA only.", field=f"response_format.{given[0]}"
            )
        return ResponseFormat(kind)
    if not f.schema_json:
        raise InvalidRequest("TYPE_JSON_SCHEMA needs response_format.schema_json.", field="response_format.schema_json")
    return ResponseFormat(
        kind,
        name=f.name or None,
        schema=_json_object(f.schema_json, field="response_format.schema_json"),
        strict=f.strict if f.HasField("strict") else None,
        description=f.description or None,
    )


def _penalty(r: pb.CompleteRequest, name: str) -> float | None:
    if not r.HasField(name):
        return None
    value = getattr(r, name)
    if not (-PENALTY_LIMIT <= value <= PENALTY_LIMIT):  # NaN fails this too
        raise InvalidRequest(f"{name} must be between -2 and 2.", field=name)
    return value


# --- JSON text fields ----------------------------------------------------------------------
def _json(text: str, *, field: str) -> Any:
    try:
        return json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested past Python's limit
        raise InvalidRequest(f"{field} is not valid JSON: {str(exc)[:100]}.", field=field) from None


def _not_json(word: str) -> Any:
    # Python's json reads NaN and Infinity; JSON (and every provider) does not.
    raise ValueError(f"{word} is not JSON")


def _json_object(text: str, *, field: str) -> dict[str, Any]:
    value = _json(text, field=field)
    if not isinstance(value, dict):
        raise InvalidRequest(f"{field} must be a JSON object (a JSON Schema).", field=field)
    return value


# --- field names in errors --------------------------------------------------------------------
# The service's shared checks and the adapters name fields by OpenAI's JSON paths (REST's);
# the same fields have other names in the proto.
_PROTO_PATHS = (
    (re.compile(r"(messages\[\d+\])\.content\["), r"\1.parts["),
    (re.compile(r"\.function\.(arguments|parameters)\b"), r".\1_json"),
    (re.compile(r"\.function\.name\b"), ".name"),
    (re.compile(r"\bresponse_format\.json_schema\.schema\b"), "response_format.schema_json"),
    (re.compile(r"\bresponse_format\.json_schema\."), "response_format."),
)


def proto_field_named(exc: Exception) -> Exception:
    """`exc` with its field (and the field where its message says it) in the proto's names."""
    if not isinstance(exc, GatewayError) or not exc.field or not ("." in exc.field or "[" in exc.field):
        return exc
    field = exc.field
    for pattern, replacement in _PROTO_PATHS:
        field = pattern.sub(replacement, field)
    if field != exc.field:
        exc.message = exc.message.replace(exc.field, field)
        exc.field = field
    return exc
