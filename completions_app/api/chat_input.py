"""A checked request body (declarations.CHAT_REQUEST / COMPLETE_REQUEST) as the service's
messages and ChatOptions.

The plain case stays cheap: a message of role and text is one Message, and a body without
any option field gives options=None. An option at its default (n 1, logprobs false,
penalties 0, response_format text, empty maps) is not an option. What the declarations
cannot say is checked here, naming the field; the rules that hold whatever the interface
are the service's (services/chat_checks.py), not repeated here.
"""

from __future__ import annotations

from typing import Any

from completions_app.services.chat_checks import file_part, image_part
from providers_app.adapters.types import (
    ChatOptions,
    Message,
    Part,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from providers_app.errors import InvalidRequest

ROLE_ALIASES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
OPTION_FIELDS = frozenset(
    (
        "tools", "tool_choice", "parallel_tool_calls", "response_format", "seed", "presence_penalty",
        "frequency_penalty", "logit_bias", "n", "logprobs", "top_logprobs", "metadata", "reasoning_effort",
    )
)  # fmt: skip
MAX_METADATA_KEY = 64


def messages_of(messages: list[dict[str, Any]]) -> tuple[Message, ...]:
    """Checked messages as the service's (text parts joined; images kept as parts)."""
    out = []
    for i, m in enumerate(messages):
        content = m.get("content")
        if len(m) == 2 and type(content) is str:  # role and text: the common case
            out.append(Message(ROLE_ALIASES[m["role"]], content))
        else:
            out.append(_message(i, m))
    return tuple(out)


def _message(i: int, m: dict[str, Any]) -> Message:
    role = ROLE_ALIASES[m["role"]]
    content = m.get("content")
    parts: tuple[Part, ...] = ()
    if not content and m.get("refusal") is not None:  # an earlier refusal: what the model said
        content = m["refusal"]
    if content is None:
        if not m.get("tool_calls"):
            raise InvalidRequest(
                "A message needs content (an assistant message may have tool_calls instead).",
                field=f"messages[{i}].content",
            )
        content = ""
    elif type(content) is not str:
        text = "".join(p["text"] for p in content if p["type"] == "text")
        if any(p["type"] != "text" for p in content):
            parts = tuple(_part(i, j, p) for j, p in enumerate(content))
        content = text
    calls = tuple(
        ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"]["arguments"])
        for c in m.get("tool_calls", ())
    )
    return Message(role, content, parts=parts, tool_calls=calls, tool_call_id=m.get("tool_call_id"), name=m.get("name"))


def _part(i: int, j: int, part: dict[str, Any]) -> Part:
    if part["type"] == "text":
        return TextPart(part["text"])
    if part["type"] == "file":
        return file_part(part["file"], field=f"messages[{i}].content[{j}].file")
    image = part["image_url"]
    return image_part(image["url"], detail=image.get("detail"), field=f"messages[{i}].content[{j}].image_url.url")


def options_of(body: dict[str, Any]) -> ChatOptions | None:
    """The ChatOptions of a checked body, or None when it asks for nothing past plain text."""
    if OPTION_FIELDS.isdisjoint(body):
        return None
    fmt = _response_format(body.get("response_format"))
    given: dict[str, Any] = {
        "tools": tuple(_tool(t["function"]) for t in body.get("tools", ())),
        "tool_choice": _tool_choice(body.get("tool_choice")),
        "parallel_tool_calls": body.get("parallel_tool_calls"),
        "response_format": fmt,
        "seed": body.get("seed"),
        "presence_penalty": body.get("presence_penalty"),
        "frequency_penalty": body.get("frequency_penalty"),
        "logit_bias": _logit_bias(body.get("logit_bias")),
        "n": body.get("n"),
        "logprobs": body.get("logprobs"),
        "top_logprobs": body.get("top_logprobs"),
        "metadata": _metadata(body.get("metadata")),
        "reasoning_effort": body.get("reasoning_effort"),
    }
    return ChatOptions.given(**given)


def _tool(f: dict[str, Any]) -> Tool:
    return Tool(
        name=f["name"], description=f.get("description"), parameters=f.get("parameters"), strict=f.get("strict")
    )


def _tool_choice(value: str | dict[str, Any] | None) -> ToolChoice | None:
    if value is None:
        return None
    if type(value) is str:
        return ToolChoice(value)
    return ToolChoice("function", value["function"]["name"])


def _response_format(value: dict[str, Any] | None) -> ResponseFormat | None:
    if value is None:
        return None
    if value["type"] == "text":
        return ResponseFormat("text")
    if value["type"] == "json_object":
        return ResponseFormat("json_object")
    s = value["json_schema"]
    return ResponseFormat(
        "json_schema", name=s["name"], schema=s["schema"], strict=s.get("strict"), description=s.get("description")
    )


def _logit_bias(value: dict[str, float] | None) -> dict[str, float] | None:
    if not value:
        return None
    for key in value:
        if not (key.isascii() and key.isdigit() and len(key) <= 10):
            raise InvalidRequest("logit_bias keys are token ids (strings of digits).", field=f"logit_bias.{key[:32]}")
    return value


def _metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    if not value:
        return None
    for key in value:
        if not (1 <= len(key) <= MAX_METADATA_KEY):
            raise InvalidRequest(
                f"metadata keys are 1 to {MAX_METADATA_KEY} characters.", field=f"metadata.{key[:MAX_METADATA_KEY]}"
            )
    return value
