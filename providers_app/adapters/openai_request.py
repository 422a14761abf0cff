"""ChatRequest -> the JSON body of OpenAI's POST /chat/completions, field for field.

The gateway's model is OpenAI's own, so this is a pass-through: every field given is sent
in the shape the `openai` SDK sends it (tests/unit/adapters/test_contract_openai_tools.py),
and nothing that was not given. A text-only request (no options, no parts, no tool turns)
takes the same short path as before tools existed.
"""

from __future__ import annotations

from typing import Any

from providers_app.errors import InvalidRequest

from .types import (
    ChatOptions,
    ChatRequest,
    FilePart,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
    ToolChoice,
    anthropic_block_field,
)


def refusal_of(request: ChatRequest) -> InvalidRequest | None:
    """What the Chat Completions API has no field for: Anthropic's `top_k`, `thinking`,
    `cache_control` and thinking blocks (sent by /v1/messages clients). Everything else of the
    request model is OpenAI's own."""
    o = request.options
    if o is None:
        return None
    if o.top_k is not None:
        return InvalidRequest('The provider kind "openai" cannot honour `top_k`.', field="top_k")
    if o.thinking is not None:
        return InvalidRequest(
            'The provider kind "openai" cannot honour `thinking` (OpenAI\'s nearest is reasoning_effort).',
            field="thinking",
        )
    if o.service_tier is not None:
        return InvalidRequest(
            'The provider kind "openai" cannot honour Anthropic\'s `service_tier`.', field="service_tier"
        )
    if (path := anthropic_block_field(request.messages, o)) is not None:
        why = "OpenAI caches prompts on its own" if path.endswith("cache_control") else "Anthropic's own blocks"
        return InvalidRequest(f'The provider kind "openai" cannot honour {path} ({why}).', field=path)
    return None


def request_params(request: ChatRequest, *, max_tokens_field: str = "max_tokens") -> dict[str, Any]:
    """ChatRequest -> the JSON body of POST /chat/completions (= `chat.completions.create`'s kwargs)."""
    params: dict[str, Any] = {
        "model": request.model,
        "messages": [
            message_of(m)
            if (m.parts or m.tool_calls or m.tool_call_id or m.name)
            else {"role": m.role, "content": m.content}
            for m in request.messages
        ],
    }
    if request.max_tokens is not None:
        params[max_tokens_field] = request.max_tokens
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.top_p is not None:
        params["top_p"] = request.top_p
    if request.stop:
        params["stop"] = list(request.stop)
    if request.user:
        params["user"] = request.user
    if request.options is not None:
        if (refused := refusal_of(request)) is not None:
            raise refused
        add_options(params, request.options)
    return params


def message_of(m: Message) -> dict[str, Any]:
    """A message with parts, tool calls, a tool_call_id or a name."""
    out: dict[str, Any] = {"role": m.role}
    if m.parts:
        out["content"] = [_part(p) for p in m.parts]
    elif m.tool_calls and not m.content:
        out["content"] = None  # an assistant turn of tool calls only, as OpenAI itself returns it
    else:
        out["content"] = m.content
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    if m.name is not None:
        out["name"] = m.name
    return out


def _part(p: TextPart | ImagePart | FilePart) -> dict[str, Any]:
    if isinstance(p, ImagePart):
        return {"type": "image_url", "image_url": _image_url(p)}
    if isinstance(p, FilePart):
        file: dict[str, Any] = (
            {"file_id": p.file_id} if p.file_id is not None else {"file_data": f"data:{p.media_type};base64,{p.data}"}
        )
        if p.filename is not None:
            file["filename"] = p.filename
        return {"type": "file", "file": file}
    return {"type": "text", "text": p.text}


def _image_url(part: ImagePart) -> dict[str, Any]:
    out: dict[str, Any] = {"url": part.url}  # a data URL is sent whole, as the client sent it
    if part.detail is not None:
        out["detail"] = part.detail
    return out


# Sent as given when set: the same name and value on the wire as in ChatOptions.
_PLAIN_OPTIONS = (
    "parallel_tool_calls", "seed", "presence_penalty", "frequency_penalty", "logit_bias", "n", "logprobs",
    "top_logprobs", "metadata", "reasoning_effort",
)  # fmt: skip


def add_options(params: dict[str, Any], options: ChatOptions) -> None:
    """Every field of `options` that was given, into `params`."""
    if options.tools:
        params["tools"] = [tool_of(t) for t in options.tools]
    if options.tool_choice is not None:
        params["tool_choice"] = tool_choice_of(options.tool_choice)
    if options.response_format is not None:
        params["response_format"] = response_format_of(options.response_format)
    for name in _PLAIN_OPTIONS:
        value = getattr(options, name)
        if value is not None:
            params[name] = value


def tool_of(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def tool_choice_of(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "function":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode  # "auto" | "none" | "required"


def response_format_of(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}  # "text" | "json_object"
    schema: dict[str, Any] = {"name": fmt.name}
    if fmt.description is not None:
        schema["description"] = fmt.description
    if fmt.schema is not None:
        schema["schema"] = fmt.schema
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": schema}
