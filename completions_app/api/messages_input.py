"""An Anthropic Messages request (checked against messages_shapes.MESSAGES_REQUEST) as the
service's CompletionInput, and the service's field names back in the request's terms.

- `system` (text, or text blocks joined by a blank line) -> a leading system message.
- A user turn's `tool_result` blocks -> `tool` messages (tool_call_id = tool_use_id), in block
  order with the turn's other blocks (text, images) as user messages between them. A
  tool_result's content is text or text and image blocks; `is_error: true` is sent as the
  content prefixed with "Error: " (the request model has no error flag on a tool result).
- An assistant turn's text blocks -> its content, its `tool_use` blocks -> tool calls
  (arguments: the input as JSON text).
- Text blocks of one turn are joined by a blank line (separate passages, never glued).
- Images: a base64 source -> a data URL part (checked), a url source -> a URL part.
- tools -> Tool (input_schema -> parameters); tool_choice auto / any / tool / none -> auto /
  required / the function / none, disable_parallel_tool_use -> parallel_tool_calls false;
  output_config effort -> reasoning_effort, format -> response_format json_schema;
  stop_sequences -> stop; metadata.user_id -> user.
- `cache_control` stays on the block or tool it came on (TextPart / ImagePart / ToolCall /
  Tool, a tool_result's on its `tool` message; system blocks with one stay blocks), and
  ChatOptions.cache_control says there is one; `top_k` -> ChatOptions.top_k. Kinds without
  them refuse them by name (the path mapped back to the block by anthropic_field).
- NOT_YET fields are refused by name (not_yet); a tool_result answering no tool_use of an
  earlier assistant turn is refused here, naming the block (messages[i].content[j].tool_use_id).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from completions_app.services.chat_checks import image_part
from completions_app.services.types import CompletionInput
from providers_app.adapters.types import (
    BlockPart,
    ChatOptions,
    ImagePart,
    Message,
    Part,
    ResponseFormat,
    TextPart,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
)
from providers_app.errors import InvalidRequest

from .messages_shapes import NOT_YET
from .shapes import Object, ShapeError, UnknownFields

SEP = "\n\n"  # between text blocks of one turn, and system blocks
OPTION_FIELDS = frozenset(("tools", "tool_choice", "output_config", "top_k", "thinking", "service_tier"))
CACHE_CONTROL = ".cache_control"
THINKING_BLOCKS = frozenset(("thinking", "redacted_thinking"))
ANTHROPIC_ONLY_BLOCKS = THINKING_BLOCKS | {"document"}  # set ChatOptions.anthropic_blocks
TOOL_CHOICES = {"auto": "auto", "any": "required", "tool": "function", "none": "none"}
JSON_FORMAT_NAME = "output"  # the request model's json_schema needs a name; Anthropic's has none
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")


def not_yet(name: str, where: str = "") -> InvalidRequest:
    field_path = f"{where}.{name}" if where else name
    return InvalidRequest(
        f"`{name}` is not supported on /v1/messages yet: the gateway cannot pass it to providers. "
        "Send the request without it.",
        field=field_path,
    )


def check_version(headers: Any) -> None:
    """`anthropic-version` must look like a date (YYYY-MM-DD) when given. `anthropic-beta` is
    accepted and ignored: the betas that add request fields are refused by those fields."""
    given = headers.get("anthropic-version")
    if given is not None and not _VERSION.fullmatch(given.strip()):
        raise InvalidRequest(
            f"anthropic-version: {given[:40]!r} is not a version date (YYYY-MM-DD, e.g. 2023-06-01).",
            field="anthropic-version",
        )


def checked(data: dict[str, Any], shape: Object) -> dict[str, Any]:
    """parsing.parse_body's check of a decoded body, with NOT_YET fields refused by name."""
    try:
        return shape.check(data)
    except UnknownFields as exc:
        for name in exc.names:
            if name in NOT_YET:
                raise not_yet(name, exc.where()) from None
        raise InvalidRequest(exc.message(), field=exc.field()) from None
    except ShapeError as exc:
        raise InvalidRequest(exc.message(), field=exc.where()) from None


# --- where each message of the service's input came from (for error fields) ---------------------
@dataclass(slots=True)
class Origin:
    path: str  # the turn ("messages[2]"), the tool_result block, or "system"
    parts: list[str] = field(default_factory=list)  # each part's block
    calls: list[str] = field(default_factory=list)  # each tool call's tool_use block
    thinking: str = ""  # an assistant turn's first thinking block


_MESSAGE_FIELD = re.compile(r"messages\[(\d+)\](?:\.(content|tool_calls)\[(\d+)\])?(.*)")
_RENAMED = (
    (re.compile(r"tools\[(\d+)\]\.function\.parameters"), r"tools[\1].input_schema"),
    (re.compile(r"tools\[(\d+)\]\.function\.name"), r"tools[\1].name"),
    (re.compile(r"parallel_tool_calls"), "tool_choice.disable_parallel_tool_use"),
    (re.compile(r"response_format(\..*)?"), "output_config.format"),
    (re.compile(r"reasoning_effort"), "output_config.effort"),
    (re.compile(r"stop"), "stop_sequences"),
    (re.compile(r"user"), "metadata.user_id"),
)


def anthropic_field(name: str, origins: list[Origin]) -> str:
    """A field path of the service's input (OpenAI's terms) in the request's own terms."""
    match = _MESSAGE_FIELD.fullmatch(name)
    if match is not None:
        i = int(match.group(1))
        if i >= len(origins):
            return name
        origin = origins[i]
        rest = match.group(4)
        suffix = rest if rest == CACHE_CONTROL else ""  # the block's own field; others name the block
        if match.group(2) is not None:
            k, paths = int(match.group(3)), origin.parts if match.group(2) == "content" else origin.calls
            return (paths[k] if k < len(paths) else origin.path) + suffix
        if rest == ".thinking":
            return origin.thinking or origin.path
        return f"{origin.path}.tool_use_id" if rest == ".tool_call_id" else origin.path + suffix
    for pattern, replacement in _RENAMED:
        if pattern.fullmatch(name):
            return pattern.sub(replacement, name)
    return name


# --- the request --------------------------------------------------------------------------------
def messages_input(body: dict[str, Any], *, cache_allowed: bool) -> tuple[CompletionInput, list[Origin]]:
    """(input, where each of its messages came from) from a checked body."""
    messages: list[Message] = []
    origins: list[Origin] = []
    cached = False  # a block carries cache_control
    system = body.get("system")
    if system:
        if type(system) is str:
            messages.append(Message("system", system))
            origins.append(Origin("system"))
        else:
            cached = any("cache_control" in b for b in system)
            parts = tuple(TextPart(b["text"], b.get("cache_control")) for b in system) if cached else ()
            messages.append(Message("system", SEP.join(b["text"] for b in system), parts=parts))
            origins.append(Origin("system", [f"system[{k}]" for k in range(len(parts))]))
    asked: set[str] = set()
    for i, turn in enumerate(body["messages"]):
        content = turn["content"]
        if type(content) is str:  # role and text: the common case
            messages.append(Message(turn["role"], content))
            origins.append(Origin(f"messages[{i}]"))
            continue
        cached = cached or any("cache_control" in b or b["type"] in ANTHROPIC_ONLY_BLOCKS for b in content)
        if turn["role"] == "assistant":
            _assistant(i, content, asked, messages, origins)
        else:
            _user(i, content, asked, messages, origins)
    metadata = body.get("metadata") or {}
    inp = CompletionInput(
        model=body["model"],
        messages=tuple(messages),
        max_tokens=body["max_tokens"],
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        stop=tuple(body.get("stop_sequences", ())),
        user=metadata.get("user_id"),
        cache=cache_allowed,
        options=_options(body, cached) if cached or not OPTION_FIELDS.isdisjoint(body) else None,
    )
    return inp, origins


def _assistant(i: int, blocks: list[dict], asked: set[str], messages: list[Message], origins: list[Origin]) -> None:
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[Thinking] = []
    origin = Origin(f"messages[{i}]")
    for j, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            texts.append(block["text"])
        elif kind in THINKING_BLOCKS:
            if texts or calls:
                raise InvalidRequest(
                    "Thinking blocks come first in an assistant turn, as the answer gave them.",
                    field=f"messages[{i}].content[{j}].type",
                )
            origin.thinking = origin.thinking or f"messages[{i}].content[{j}]"
            if kind == "thinking":
                thinking.append(Thinking(block["thinking"], block["signature"]))
            else:
                thinking.append(Thinking(redacted=block["data"]))
        elif kind == "tool_use":
            arguments = json.dumps(block["input"], ensure_ascii=False)
            calls.append(ToolCall(block["id"], block["name"], arguments, block.get("cache_control")))
            origin.calls.append(f"messages[{i}].content[{j}]")
            asked.add(block["id"])
        else:
            raise InvalidRequest(
                f"An assistant turn takes thinking, text and tool_use blocks, not {kind}.",
                field=f"messages[{i}].content[{j}].type",
            )
    messages.append(Message("assistant", SEP.join(texts), tool_calls=tuple(calls), thinking=tuple(thinking)))
    origins.append(origin)


def _user(i: int, blocks: list[dict], asked: set[str], messages: list[Message], origins: list[Origin]) -> None:
    pending: list[tuple[int, dict]] = []  # text and image blocks since the last tool_result

    def flush() -> None:
        if pending:
            messages.append(_with_parts("user", [(f"messages[{i}].content[{j}]", b) for j, b in pending]))
            origins.append(Origin(f"messages[{i}]", [f"messages[{i}].content[{j}]" for j, _b in pending]))
            pending.clear()

    for j, block in enumerate(blocks):
        kind = block["type"]
        where = f"messages[{i}].content[{j}]"
        if kind == "tool_result":
            flush()
            if block["tool_use_id"] not in asked:
                raise InvalidRequest(
                    f"tool_use_id {block['tool_use_id'][:64]!r} answers no tool_use of an earlier assistant turn.",
                    field=f"{where}.tool_use_id",
                )
            messages.append(_tool_result(where, block))
            content = block.get("content")
            inner = [f"{where}.content[{k}]" for k in range(len(content))] if type(content) is list else []
            origins.append(Origin(where, inner))
        elif kind == "tool_use" or kind in THINKING_BLOCKS:
            raise InvalidRequest(f"{kind} blocks belong to assistant turns.", field=f"{where}.type")
        else:
            pending.append((j, block))
    flush()


def _tool_result(where: str, block: dict) -> Message:
    content = block.get("content")
    if content is None or type(content) is str:
        message = Message("tool", content or "", tool_call_id=block["tool_use_id"])
    else:
        message = _with_parts(
            "tool", [(f"{where}.content[{k}]", b) for k, b in enumerate(content)], tool_call_id=block["tool_use_id"]
        )
    if block.get("is_error"):
        parts = (TextPart("Error: "), *message.parts) if message.parts else ()
        message = Message("tool", f"Error: {message.content}", parts=parts, tool_call_id=message.tool_call_id)
    if "cache_control" in block:
        message = replace(message, cache_control=block["cache_control"])
    return message


def _with_parts(role: str, blocks: list[tuple[str, dict]], tool_call_id: str | None = None) -> Message:
    """Text and image blocks as one message: parts only when there is an image or a cache_control."""
    parts: list[Part] = []
    for where, block in blocks:
        if block["type"] == "text":
            parts.append(TextPart(block["text"], block.get("cache_control")))
        elif block["type"] == "document":
            parts.append(BlockPart(block))
        else:
            parts.append(_image(where, block))
    text = SEP.join(p.text for p in parts if isinstance(p, TextPart))
    keep = any(not isinstance(p, TextPart) or p.cache_control is not None for p in parts)
    return Message(role, text, parts=tuple(parts) if keep else (), tool_call_id=tool_call_id)


def _image(where: str, block: dict) -> ImagePart:
    source = block["source"]
    if source["type"] == "url":
        part = image_part(source["url"], field=f"{where}.source.url")
    else:
        part = image_part(f"data:{source['media_type']};base64,{source['data']}", field=f"{where}.source.data")
    return replace(part, cache_control=block["cache_control"]) if "cache_control" in block else part


def _options(body: dict[str, Any], cached: bool) -> ChatOptions | None:
    choice = body.get("tool_choice")
    config = body.get("output_config") or {}
    fmt = config.get("format")
    tools = tuple(
        Tool(
            t["name"],
            description=t.get("description"),
            parameters=t["input_schema"],
            strict=t.get("strict"),
            cache_control=t.get("cache_control"),
        )
        for t in body.get("tools", ())
    )
    return ChatOptions.given(
        tools=tools,
        top_k=body.get("top_k"),
        thinking=body.get("thinking"),
        service_tier=body.get("service_tier"),
        anthropic_blocks=True if cached or any(t.cache_control is not None for t in tools) else None,
        tool_choice=_tool_choice(choice),
        parallel_tool_calls=False if choice is not None and choice.get("disable_parallel_tool_use") else None,
        response_format=None
        if fmt is None
        else ResponseFormat("json_schema", name=JSON_FORMAT_NAME, schema=fmt["schema"]),
        reasoning_effort=config.get("effort"),
    )


def _tool_choice(choice: dict[str, Any] | None) -> ToolChoice | None:
    if choice is None:
        return None
    mode = TOOL_CHOICES[choice["type"]]
    if mode != "function":
        return ToolChoice(mode)
    if not choice.get("name"):
        raise InvalidRequest("tool_choice of type `tool` needs the tool's `name`.", field="tool_choice.name")
    return ToolChoice("function", choice["name"])
