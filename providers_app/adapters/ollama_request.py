"""ChatRequest -> the JSON body of Ollama's POST /api/chat, and what Ollama cannot be asked.

What goes where (as the `ollama` SDK sends it; tests/unit/adapters/test_contract_ollama_tools.py):
- max_tokens, temperature, top_p, stop, seed, presence/frequency penalties -> `options`.
- tools -> `tools` (`{"type": "function", "function": {name, description, parameters}}`);
  tool_choice "auto" is Ollama's only behaviour, "none" sends no tools. Ollama has no
  tool_choice, no parallel_tool_calls switch and no strict tool arguments: "required", a named
  function, `parallel_tool_calls: false` and `strict: true` on a tool are refused.
- An assistant turn's tool calls -> `tool_calls: [{"function": {"name", "arguments": {...}}}]`
  (Ollama takes the arguments as an object, not JSON text); a `tool` message -> `tool_name`,
  the name of the call it answers (Ollama matches results by name, not by id).
- Image parts -> the message's `images` (base64; the text stays in `content`). Ollama takes
  no URLs and the gateway does not fetch one for a provider: an http(s) image is refused.
- response_format json_object -> `format: "json"`, json_schema -> `format: <the schema>`
  (Ollama constrains the output to it, so `strict` holds either way); text -> nothing.
- reasoning_effort low/medium/high -> `think` with the same word ("minimal" has no match:
  refused); logprobs / top_logprobs -> the same fields.
- `user` has no place in Ollama's API: it stays on the gateway's record only (CompletionRecord.end_user). A message's
  `name`, `n` > 1, `logit_bias` and `metadata` are refused.
"""

from __future__ import annotations

import json
from typing import Any

from providers_app.errors import InvalidRequest

from .types import ChatOptions, ChatRequest, FilePart, ImagePart, Message, anthropic_block_field

KIND = "ollama"
THINK_LEVELS = ("low", "medium", "high")


def _cannot(field: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"{what} Provider kind {KIND!r} cannot honour {field}.", field=field)


def _is_plain(m: Message) -> bool:
    return not (m.parts or m.tool_calls or m.tool_call_id is not None or m.name is not None)


# --- refusals --------------------------------------------------------------------------------
def refusal_of(request: ChatRequest) -> InvalidRequest | None:
    """The first thing of `request` Ollama cannot honour (or that cannot be put in its
    terms), as the client's error naming the field; None when all of it can be sent."""
    for i, m in enumerate(request.messages):
        if _is_plain(m):
            continue
        if m.name is not None:
            return _cannot(f"messages[{i}].name", "Ollama's messages have no participant name.")
        for k, part in enumerate(m.parts):
            if isinstance(part, FilePart):
                return _cannot(f"messages[{i}].content[{k}].file", "Ollama takes no files.")
            if not isinstance(part, ImagePart):
                continue
            if not part.is_data:
                return _cannot(
                    f"messages[{i}].content[{k}].image_url.url",
                    "Ollama takes images as base64 only, and the gateway does not fetch URLs for a provider: "
                    "send the image as a data URL (data:image/png;base64,...).",
                )
            if part.detail not in (None, "auto"):
                return _cannot(f"messages[{i}].content[{k}].image_url.detail", "Ollama has no image detail setting.")
        for j, call in enumerate(m.tool_calls):
            if not isinstance(_arguments_object(call.arguments), dict):
                return InvalidRequest(
                    "A tool call's arguments must be JSON text of an object (Ollama takes them as an object).",
                    field=f"messages[{i}].tool_calls[{j}].function.arguments",
                )
    if request.options is not None:
        if (path := anthropic_block_field(request.messages, request.options)) is not None:
            what = (
                "prompt-cache breakpoints"
                if path.endswith("cache_control")
                else "Anthropic's thinking blocks"
                if path.endswith("thinking")
                else "Anthropic's document blocks"
            )
            return _cannot(path, f"Ollama takes no {what}.")
        return _options_refusal(request.options)
    return None


def _options_refusal(o: ChatOptions) -> InvalidRequest | None:
    if o.thinking is not None:
        return _cannot("thinking", "Ollama's nearest is `think` (reasoning_effort on /v1/chat/completions).")
    if o.service_tier is not None:
        return _cannot("service_tier", "Ollama has no service tiers.")
    if o.n is not None and o.n > 1:
        return _cannot("n", "Ollama answers with one choice.")
    if o.logit_bias:
        return _cannot("logit_bias", "Ollama has no logit bias.")
    if o.metadata:
        return _cannot("metadata", "Ollama keeps no metadata with a request.")
    if o.tool_choice is not None and o.tool_choice.mode in ("required", "function"):
        return _cannot("tool_choice", "Ollama has no tool_choice: the model decides whether to call a tool.")
    sends_tools = o.tool_choice is None or o.tool_choice.mode != "none"  # "none": no tools go, nothing to keep
    if o.parallel_tool_calls is False and sends_tools:
        return _cannot("parallel_tool_calls", "Ollama cannot be kept to one tool call per answer.")
    for i, tool in enumerate(o.tools):
        if tool.strict and sends_tools:
            return _cannot(f"tools[{i}].function.strict", "Ollama does not constrain tool arguments to the schema.")
    if o.reasoning_effort is not None and o.reasoning_effort not in THINK_LEVELS:
        return _cannot("reasoning_effort", f"Ollama's think levels are {', '.join(THINK_LEVELS)}.")
    return None


def _arguments_object(text: str) -> Any:
    if not text.strip():
        return {}  # empty arguments mean no arguments, as on the other kinds
    try:
        return json.loads(text)
    except ValueError:
        return None


# --- translation ----------------------------------------------------------------------------
def request_params(request: ChatRequest) -> dict[str, Any]:
    """ChatRequest -> the JSON body of POST /api/chat (without `stream`). Raises the
    refusal (InvalidRequest) for what Ollama cannot honour."""
    o = request.options
    # Plain messages (the common case) in one pass; a message with more -> the whole translation.
    messages = [
        {"role": m.role, "content": m.content}
        for m in request.messages
        if not (m.parts or m.tool_calls or m.tool_call_id is not None or m.name is not None)
    ]
    if len(messages) != len(request.messages):
        if (refused := refusal_of(request)) is not None:
            raise refused
        messages = _messages(request.messages)
    elif o is not None and (refused := refusal_of(request)) is not None:
        raise refused
    options: dict[str, Any] = {}
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.stop:
        options["stop"] = list(request.stop)
    params: dict[str, Any] = {"model": request.model, "messages": messages}
    if o is not None:
        _add_options(params, options, o)
    if options:
        params["options"] = options
    return params


def _add_options(params: dict[str, Any], options: dict[str, Any], o: ChatOptions) -> None:
    if o.seed is not None:
        options["seed"] = o.seed
    if o.top_k is not None:
        options["top_k"] = o.top_k
    if o.presence_penalty is not None:
        options["presence_penalty"] = o.presence_penalty
    if o.frequency_penalty is not None:
        options["frequency_penalty"] = o.frequency_penalty
    if o.tools and (o.tool_choice is None or o.tool_choice.mode != "none"):
        params["tools"] = [_tool(t.name, t.description, t.parameters) for t in o.tools]
    fmt = o.response_format
    if fmt is not None and fmt.type == "json_object":
        params["format"] = "json"
    elif fmt is not None and fmt.type == "json_schema":
        params["format"] = fmt.schema
    if o.reasoning_effort is not None:
        params["think"] = o.reasoning_effort
    if o.logprobs is not None:
        params["logprobs"] = o.logprobs
    if o.top_logprobs is not None:
        params["top_logprobs"] = o.top_logprobs


def _tool(name: str, description: str | None, parameters: dict[str, Any] | None) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    if description is not None:
        function["description"] = description
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


def _messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> the function's name, from earlier assistant turns
    for i, m in enumerate(messages):
        item: dict[str, Any] = {"role": m.role, "content": m.content}
        images = [p.data for p in m.parts if isinstance(p, ImagePart)]
        if images:
            item["images"] = images
        if m.tool_calls:
            if not m.content:
                del item["content"]  # as the SDK sends a turn of tool calls only
            item["tool_calls"] = [
                {"function": {"name": c.name, "arguments": json.loads(c.arguments)}} for c in m.tool_calls
            ]
            names.update((c.id, c.name) for c in m.tool_calls)
        if m.tool_call_id is not None:
            name = names.get(m.tool_call_id)
            if name is None:
                raise InvalidRequest(
                    "A tool message must answer a tool call of an earlier assistant message.",
                    field=f"messages[{i}].tool_call_id",
                )
            item["tool_name"] = name
        out.append(item)
    return out
