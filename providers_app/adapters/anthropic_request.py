"""ChatRequest -> the body of Anthropic's POST /v1/messages (the request half of anthropic.py).

What is translated, and how (docs/chat-surface.md has the field x kind table):
- system / developer messages: the leading ones become the top-level `system` (joined by a
  blank line). The Messages API has no system turn, so a system message AFTER a user,
  assistant or tool message is refused (400 naming `messages[i].role`): moving it to the
  front would change what the model reads, and is never done silently.
- tools -> `tools: [{name, description, input_schema, strict}]`; tool_choice auto / required /
  a function / none -> {"type": auto / any / tool / none}; parallel_tool_calls: false ->
  `disable_parallel_tool_use: true` inside tool_choice (auto when none was given).
- assistant tool_calls -> `tool_use` blocks (input: the arguments, which must be a JSON
  object; empty arguments mean {}); `tool` messages -> `tool_result` blocks, consecutive ones
  in ONE user turn, and a user message right after them joins that same turn.
- files (OpenAI's `file` part, a PDF as file_data) -> a `document` block with a base64 source;
  a file id (another provider's Files API) is refused by name.
- images: a data URL -> a base64 source, an https URL -> a url source; a plain http URL is
  refused (Anthropic fetches only https). OpenAI's `detail` hint has no Anthropic
  counterpart: "auto" (the default) is accepted, "low" / "high" are refused by name.
- response_format json_schema -> `output_config.format` (structured outputs; always strict;
  the format's description goes into the schema's own `description`). For models without
  structured outputs (Model.json_schema_via_tool, ChatOptions.json_schema_via_tool) it is
  sent as one forced tool named after the schema, whose input becomes the answer's text
  (best effort: such models have no strict tool use either, so `strict` is not enforced).
  json_object: Anthropic has no JSON mode, so it is always that forced tool (JSON_OBJECT_TOOL,
  input_schema {"type": "object"}). Either forced tool with the client's own tools is refused
  (`response_format`): the model could not both answer in JSON and call them.
- reasoning_effort -> `output_config.effort` (minimal -> low); `user` -> metadata.user_id;
  top_k -> top_k; service_tier and `document` blocks (BlockPart) as sent; thinking (the config) as sent, and an assistant turn's thinking blocks
  (Message.thinking) back first in that turn, unmodified.
- cache_control (from /v1/messages clients) goes back on the same block or tool it came on:
  system text blocks (the system prompt is then sent as blocks, not joined), text and image
  blocks, tool_use and tool_result blocks, tools.
- refused by name (refusal(), and again here for the plain path): n > 1, logprobs,
  top_logprobs, logit_bias, seed, non-zero presence/frequency penalties, metadata (Anthropic's
  only metadata is user_id, which `user` sets) and a message's `name`.
"""

from __future__ import annotations

import json
from typing import Any

from providers_app.errors import InvalidRequest

from .types import BlockPart, ChatOptions, ChatRequest, FilePart, ImagePart, Message, ResponseFormat, TextPart, Thinking

KIND = "anthropic"
JSON_OBJECT_TOOL = "json_object"  # the forced tool that stands for response_format json_object
EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}


def cannot(field: str, why: str = "") -> InvalidRequest:
    return InvalidRequest(f'The provider kind "{KIND}" cannot honour `{field}`{why}.', field=field)


def late_system(i: int) -> InvalidRequest:
    return InvalidRequest(
        f'The provider kind "{KIND}" takes system and developer messages only at the start of the '
        "conversation; move this one before the first user message.",
        field=f"messages[{i}].role",
    )


def options_refusal(o: ChatOptions) -> InvalidRequest | None:
    """The first option Anthropic cannot honour; defaults that change nothing (n: 1,
    logprobs: false, zero penalties, {} maps) are honoured."""
    if o.n is not None and o.n != 1:
        return cannot("n", " (one answer per request)")
    if o.logprobs:
        return cannot("logprobs")
    if o.top_logprobs is not None:
        return cannot("top_logprobs")
    if o.logit_bias:
        return cannot("logit_bias")
    if o.seed is not None:
        return cannot("seed")
    if o.presence_penalty:
        return cannot("presence_penalty")
    if o.frequency_penalty:
        return cannot("frequency_penalty")
    if o.metadata:
        return cannot("metadata", " (only `user` is sent, as metadata.user_id)")
    fmt = o.response_format
    if (
        fmt is not None
        and o.tools
        and (fmt.type == "json_object" or (fmt.type == "json_schema" and o.json_schema_via_tool))
    ):
        return cannot("response_format", " together with tools on this model (JSON output is a forced tool here)")
    return None


def messages_refusal(messages: tuple[Message, ...]) -> InvalidRequest | None:
    """What no translation of these messages could send (without parsing any arguments)."""
    started = False
    for i, m in enumerate(messages):
        if m.name is not None:
            return cannot(f"messages[{i}].name")
        if m.role == "system":
            if started:
                return late_system(i)
        else:
            started = True
        for k, part in enumerate(m.parts):
            if isinstance(part, ImagePart) and (error := _image_refusal(part, i, k, m.role)):
                return error
            if isinstance(part, FilePart) and part.file_id is not None:
                return InvalidRequest(
                    f'The provider kind "{KIND}" cannot take another provider\'s file id: send the file as file_data.',
                    field=f"messages[{i}].content[{k}].file.file_id",
                )
    return None


def _image_refusal(part: ImagePart, i: int, k: int, role: str) -> InvalidRequest | None:
    field = f"messages[{i}].content[{k}].image_url.url"
    if role in ("system", "assistant"):
        return InvalidRequest(f'The provider kind "{KIND}" takes images only in user and tool messages.', field=field)
    if not part.is_data and not part.url.startswith("https://"):
        return InvalidRequest(f'The provider kind "{KIND}" takes image URLs only over https.', field=field)
    if part.detail not in (None, "auto"):
        return InvalidRequest(
            f'The provider kind "{KIND}" has no image detail setting: send "auto" or none.',
            field=f"messages[{i}].content[{k}].image_url.detail",
        )
    return None


def request_params(request: ChatRequest, *, default_max_tokens: int) -> dict[str, Any]:
    """ChatRequest -> the JSON body of POST /v1/messages. Raises InvalidRequest (naming the
    field) for what Anthropic cannot be asked."""
    options = request.options
    plain = _plain_messages(request.messages) if options is None else None
    system, messages = plain if plain is not None else _rich_messages(request.messages)
    params: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens if request.max_tokens is not None else default_max_tokens,
    }
    if system:
        params["system"] = system
    if request.stop:
        params["stop_sequences"] = list(request.stop)
    # Only when the client set them: models after Opus 4.6 reject non-default values (and
    # the SDK's typed signature no longer has them).
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.top_p is not None:
        params["top_p"] = request.top_p
    if request.user:
        params["metadata"] = {"user_id": request.user}
    if options is not None:
        if (refused := options_refusal(options)) is not None:
            raise refused
        _add_options(params, options)
    return params


def json_tool_name(options: ChatOptions | None) -> str | None:
    """The forced tool whose input is the answer's text (JSON output sent as a tool), if any."""
    fmt = options.response_format if options is not None else None
    if fmt is None:
        return None
    if fmt.type == "json_object":
        return JSON_OBJECT_TOOL
    if fmt.type == "json_schema" and options.json_schema_via_tool:  # type: ignore[union-attr]
        return fmt.name
    return None


# --- messages ---------------------------------------------------------------------------
def _plain_messages(messages: tuple[Message, ...]) -> tuple[str, list[dict[str, Any]]] | None:
    """Text only: the common path, one pass and no blocks. None at the first message that
    is more than text (the rich path then translates them all)."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        if m.parts or m.tool_calls or m.tool_call_id is not None or m.thinking:
            return None
        if m.name is not None:
            raise cannot(f"messages[{i}].name")
        if m.role == "system":
            if out:
                raise late_system(i)
            system.append(m.content)
        else:
            out.append({"role": m.role, "content": m.content})
    return "\n\n".join(system), out


def _rich_messages(messages: tuple[Message, ...]) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    if (refused := messages_refusal(messages)) is not None:
        raise refused
    system: list[Message] = []
    out: list[dict[str, Any]] = []
    results_turn: list[dict[str, Any]] | None = None  # the open user turn of tool results
    for i, m in enumerate(messages):
        if m.role == "system":
            system.append(m)
        elif m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": _content(m)}
            if m.cache_control is not None:
                block["cache_control"] = m.cache_control
            if results_turn is None:
                results_turn = [block]
                out.append({"role": "user", "content": results_turn})
            else:
                results_turn.append(block)
        elif m.role == "user" and results_turn is not None:
            # Right after tool results: the same user turn (Anthropic alternates turns).
            content = _content(m)
            if isinstance(content, list):
                results_turn.extend(content)
            elif content:  # Anthropic rejects empty text blocks
                results_turn.append({"type": "text", "text": content})
            results_turn = None
        elif m.role == "assistant" and (m.tool_calls or m.thinking):
            blocks: list[dict[str, Any]] = [_thinking_block(t) for t in m.thinking]
            if m.content:
                blocks.append({"type": "text", "text": m.content})
            for j, call in enumerate(m.tool_calls):
                use = {"type": "tool_use", "id": call.id, "name": call.name, "input": _arguments(call.arguments, i, j)}
                if call.cache_control is not None:
                    use["cache_control"] = call.cache_control
                blocks.append(use)
            out.append({"role": "assistant", "content": blocks})
            results_turn = None
        else:
            out.append({"role": m.role, "content": _content(m)})
            results_turn = None
    return _system(system), out


def _thinking_block(t: Thinking) -> dict[str, Any]:
    if t.redacted is not None:
        return {"type": "redacted_thinking", "data": t.redacted}
    return {"type": "thinking", "thinking": t.text, "signature": t.signature}


def _system(messages: list[Message]) -> str | list[dict[str, Any]]:
    """Joined text; text blocks when a block carries cache_control (its breakpoint must stay put)."""
    if not any(p.cache_control is not None for m in messages for p in m.parts):
        return "\n\n".join(m.content for m in messages)
    blocks: list[dict[str, Any]] = []
    for m in messages:
        for part in m.parts or (TextPart(m.content),):
            if isinstance(part, TextPart) and part.text:
                blocks.append(_with_cache(part, {"type": "text", "text": part.text}))
    return blocks


def _with_cache(part: TextPart | ImagePart, block: dict[str, Any]) -> dict[str, Any]:
    if part.cache_control is not None:
        block["cache_control"] = part.cache_control
    return block


def _content(m: Message) -> str | list[dict[str, Any]]:
    if not m.parts:
        return m.content
    blocks: list[dict[str, Any]] = []
    for part in m.parts:
        if isinstance(part, BlockPart):
            blocks.append(part.block)
        elif isinstance(part, FilePart):  # a PDF (chat_checks.FILE_TYPES): Anthropic's document block
            source = {"type": "base64", "media_type": part.media_type, "data": part.data}
            blocks.append({"type": "document", "source": source})
        elif isinstance(part, ImagePart):
            if part.is_data:
                source = {"type": "base64", "media_type": part.media_type, "data": part.data}
            else:
                source = {"type": "url", "url": part.url}
            blocks.append(_with_cache(part, {"type": "image", "source": source}))
        elif part.text:  # Anthropic rejects empty text blocks
            blocks.append(_with_cache(part, {"type": "text", "text": part.text}))
    return blocks


def _arguments(arguments: str, i: int, j: int) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(
            "A tool call's arguments must be a JSON object.", field=f"messages[{i}].tool_calls[{j}].function.arguments"
        )
    return value


# --- options ----------------------------------------------------------------------------
def _add_options(params: dict[str, Any], o: ChatOptions) -> None:
    if o.tools:
        params["tools"] = [_tool(t.name, t.description, t.parameters, t.strict, t.cache_control) for t in o.tools]
    choice = _tool_choice(o)
    if choice is not None:
        params["tool_choice"] = choice
    output_config: dict[str, Any] = {}
    fmt = o.response_format
    forced = json_tool_name(o)
    if forced is not None and fmt is not None:
        schema = fmt.schema if fmt.type == "json_schema" else {"type": "object"}
        params["tools"] = [_tool(forced, fmt.description, schema, None)]
        params["tool_choice"] = {"type": "tool", "name": forced}
    elif fmt is not None and fmt.type == "json_schema":
        output_config["format"] = {"type": "json_schema", "schema": _schema_with(fmt)}
    if o.reasoning_effort is not None:
        output_config["effort"] = EFFORTS[o.reasoning_effort]
    if o.top_k is not None:
        params["top_k"] = o.top_k
    if o.thinking is not None:
        params["thinking"] = o.thinking
    if o.service_tier is not None:
        params["service_tier"] = o.service_tier
    if output_config:
        params["output_config"] = output_config


def _tool(
    name: str,
    description: str | None,
    schema: dict[str, Any] | None,
    strict: bool | None,
    cache_control: dict[str, Any] | None = None,
) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": name}
    if description:
        tool["description"] = description
    tool["input_schema"] = schema if schema is not None else {"type": "object", "properties": {}}
    if strict is not None:
        tool["strict"] = strict
    if cache_control is not None:
        tool["cache_control"] = cache_control
    return tool


def _tool_choice(o: ChatOptions) -> dict[str, Any] | None:
    choice = o.tool_choice
    if choice is None:
        if o.parallel_tool_calls is False:
            return {"type": "auto", "disable_parallel_tool_use": True}
        return None
    if choice.mode == "none":
        return {"type": "none"}
    out: dict[str, Any] = {"type": {"auto": "auto", "required": "any"}.get(choice.mode, "tool")}
    if choice.mode == "function":
        out["name"] = choice.name
    if o.parallel_tool_calls is False:
        out["disable_parallel_tool_use"] = True
    return out


def _schema_with(fmt: ResponseFormat) -> dict[str, Any]:
    schema = fmt.schema or {"type": "object"}
    if fmt.description and "description" not in schema:
        return {**schema, "description": fmt.description}  # Anthropic's format has no field of its own for it
    return schema
