"""The checks on a request's tools, tool turns, images and options that hold whatever the
interface (REST, OpenAI-compatible, gRPC) and whatever the provider kind: every interface
parses into CompletionInput and the completion service runs `check_rich` on it before
anything else, so a bad request is a 400 naming the field and reaches no upstream.

What a provider kind cannot honour is not checked here but by its adapter (refusal()).
"""

from __future__ import annotations

import binascii
import re

from providers_app.adapters.types import ChatOptions, FilePart, ImagePart, Message
from providers_app.errors import InvalidRequest

TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_DATA_URL = re.compile(r"data:([^;,]{1,100});base64,", re.IGNORECASE)
MAX_N = 16
MAX_TOP_LOGPROBS = 20
MAX_TOOLS = 128
REASONING_EFFORTS = ("minimal", "low", "medium", "high")


def image_part(url: str, *, detail: str | None = None, field: str) -> ImagePart:
    """An image part from its URL: an http(s) URL as given; a data URL checked (an image
    type, strict base64) and split. `field` names the part in errors."""
    if url.startswith(("https://", "http://")):
        return ImagePart(url=url, detail=detail)
    match = _DATA_URL.match(url)
    if match is None:
        raise InvalidRequest(
            "An image URL must be https://, http:// or a base64 data URL (data:image/png;base64,...).", field=field
        )
    media_type = match.group(1).lower()
    if media_type not in IMAGE_TYPES:
        raise InvalidRequest(
            f"Image type {media_type[:40]!r} is not supported; send one of {', '.join(IMAGE_TYPES)}.", field=field
        )
    data = url[match.end() :]
    try:
        binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("The image data URL is not valid base64.", field=field) from None
    if not data:
        raise InvalidRequest("The image data URL is empty.", field=field)
    return ImagePart(url=url, media_type=media_type, data=data, detail=detail)


FILE_TYPES = ("application/pdf",)


def file_part(file: dict[str, str], *, field: str) -> FilePart:
    """A file part: a provider's file id as given, or a data URL checked (a PDF, strict base64)."""
    if "file_id" in file:
        return FilePart(file_id=file["file_id"], filename=file.get("filename"))
    url = file["file_data"]
    match = _DATA_URL.match(url)
    if match is None:
        raise InvalidRequest(
            "file_data must be a base64 data URL (data:application/pdf;base64,...).", field=f"{field}.file_data"
        )
    media_type = match.group(1).lower()
    if media_type not in FILE_TYPES:
        raise InvalidRequest(
            f"File type {media_type[:40]!r} is not supported; send one of {', '.join(FILE_TYPES)}.",
            field=f"{field}.file_data",
        )
    data = url[match.end() :]
    try:
        binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("file_data is not valid base64.", field=f"{field}.file_data") from None
    if not data:
        raise InvalidRequest("file_data is empty.", field=f"{field}.file_data")
    return FilePart(data=data, media_type=media_type, filename=file.get("filename"))


def check_rich(messages: tuple[Message, ...], options: ChatOptions | None) -> None:
    """Raise InvalidRequest (naming the field) for what no provider could be asked."""
    _check_turns(messages)
    if options is not None:
        _check_options(options)


def _check_turns(messages: tuple[Message, ...]) -> None:
    asked: set[str] = set()
    for i, m in enumerate(messages):
        if m.tool_calls:
            if m.role != "assistant":
                raise InvalidRequest("Only assistant messages carry tool_calls.", field=f"messages[{i}].tool_calls")
            for j, call in enumerate(m.tool_calls):
                if not call.id:
                    raise InvalidRequest("A tool call needs an id.", field=f"messages[{i}].tool_calls[{j}].id")
                if not TOOL_NAME.fullmatch(call.name):
                    raise InvalidRequest(
                        "A tool call's function name must be 1-64 of A-Z a-z 0-9 _ -.",
                        field=f"messages[{i}].tool_calls[{j}].function.name",
                    )
                asked.add(call.id)
        if m.role == "tool":
            if not m.tool_call_id:
                raise InvalidRequest(
                    "A tool message needs the tool_call_id it answers.", field=f"messages[{i}].tool_call_id"
                )
            if m.tool_call_id not in asked:
                raise InvalidRequest(
                    f"tool_call_id {m.tool_call_id[:64]!r} answers no tool call of an earlier assistant message.",
                    field=f"messages[{i}].tool_call_id",
                )
        elif m.tool_call_id is not None:
            raise InvalidRequest("Only tool messages carry a tool_call_id.", field=f"messages[{i}].tool_call_id")


def _check_options(o: ChatOptions) -> None:
    names: set[str] = set()
    if len(o.tools) > MAX_TOOLS:
        raise InvalidRequest(f"At most {MAX_TOOLS} tools.", field="tools")
    for i, tool in enumerate(o.tools):
        if not TOOL_NAME.fullmatch(tool.name):
            raise InvalidRequest("A tool's name must be 1-64 of A-Z a-z 0-9 _ -.", field=f"tools[{i}].function.name")
        if tool.name in names:
            raise InvalidRequest(f"Two tools are named {tool.name!r}.", field=f"tools[{i}].function.name")
        names.add(tool.name)
        _check_object_schema(tool.parameters, field=f"tools[{i}].function.parameters")
    choice = o.tool_choice
    if choice is not None:
        if not o.tools and choice.mode != "none":
            raise InvalidRequest("tool_choice needs tools.", field="tool_choice")
        if choice.mode == "function" and choice.name not in names:
            raise InvalidRequest(
                f"tool_choice names {str(choice.name)[:64]!r}, which is not in tools.", field="tool_choice"
            )
    if o.parallel_tool_calls is not None and not o.tools:
        raise InvalidRequest("parallel_tool_calls needs tools.", field="parallel_tool_calls")
    fmt = o.response_format
    if fmt is not None and fmt.type == "json_schema":
        if fmt.name is None or not TOOL_NAME.fullmatch(fmt.name):
            raise InvalidRequest(
                "response_format.json_schema.name must be 1-64 of A-Z a-z 0-9 _ -.",
                field="response_format.json_schema.name",
            )
        if fmt.schema is None:
            raise InvalidRequest(
                "response_format.json_schema needs a schema.", field="response_format.json_schema.schema"
            )
        _check_object_schema(fmt.schema, field="response_format.json_schema.schema")
    if o.n is not None and not (1 <= o.n <= MAX_N):
        raise InvalidRequest(f"n must be between 1 and {MAX_N}.", field="n")
    if o.top_logprobs is not None:
        if not (0 <= o.top_logprobs <= MAX_TOP_LOGPROBS):
            raise InvalidRequest(f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}.", field="top_logprobs")
        if not o.logprobs:
            raise InvalidRequest("top_logprobs needs logprobs: true.", field="top_logprobs")
    if o.reasoning_effort is not None and o.reasoning_effort not in REASONING_EFFORTS:
        raise InvalidRequest(
            f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}.", field="reasoning_effort"
        )


def _check_object_schema(schema: object, *, field: str) -> None:
    """A tool's parameters and a json_schema must be JSON Schemas of an object."""
    if schema is None:
        return
    if not isinstance(schema, dict):
        raise InvalidRequest("Must be a JSON Schema object.", field=field)
    kind = schema.get("type")
    if kind is not None and kind != "object":
        raise InvalidRequest(f"Must be a JSON Schema of type object, not {str(kind)[:32]!r}.", field=field)
