"""Schemathesis hooks for test_schemathesis.py: a request the document calls valid is made to
also keep the rules it can only state in words (a JSON Schema cannot relate two fields): a
tool_choice names one of `tools`, a tool message answers an earlier call, names are 1-64 of
A-Z a-z 0-9 _ -, an image URL is an image... Each of those, broken, is a 400 naming the field
(tests/badinput/test_tools_input.py and tests/unit/api/test_chat_input.py test them); here
they are kept so that positive_data_acceptance still checks every other field. Negative
cases are sent as generated."""

from __future__ import annotations

import json
import re
from typing import Any

import schemathesis

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
PNG = "data:image/png;base64,iVBORw0KGgo="
PDF = "data:application/pdf;base64,JVBERi0xLjQK"
EMBEDDING_MODEL = "text-embedding-3-small"  # in the suite's gateway (conftest.py), mode embedding
OTHER_KINDS = ("claude-3-5-haiku", "llama3")  # the anthropic- and ollama-kind chat models (fake_config)


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return
    body = case.body
    if case.operation.path == "/v1/embeddings":
        body["model"] = EMBEDDING_MODEL  # a chat model is a 400 there, which no schema can state
        return
    if body.get("model") == EMBEDDING_MODEL:  # seen in GET /v1/models; on the chat routes a 400 too
        body["model"] = "gpt-4o-mini"
    if case.operation.path.startswith("/v1/messages"):
        _anthropic(body)
        anthropic_only = ("top_k", "thinking", "service_tier")
        if any(body.get(k) is not None for k in anthropic_only) or "cache_control" in json.dumps(body):
            # Anthropic's own fields: the openai kind refuses them by name (test_cache_control.py).
            body["model"] = "claude-3-5-haiku"
        if case.operation.path.endswith("/count_tokens") and body.get("model") == "gpt-4o-mini":
            body["model"] = "claude-3-5-haiku"  # counting is served for anthropic providers only
        return
    if body.get("model") in OTHER_KINDS:
        # Which fields a provider kind cannot honour (a 400 naming the field: test_refusal_routing,
        # the adapters' refusal tests) depends on the model, which no schema can state: the
        # openai kind honours every field of the OpenAI shape.
        body["model"] = "gpt-4o-mini"
    tools = _tools(body)
    choice = body.get("tool_choice")
    if choice is not None and not tools and choice != "none":
        del body["tool_choice"]
    elif isinstance(choice, dict):
        choice["function"]["name"] = tools[0]
    if body.get("parallel_tool_calls") is not None and not tools:
        del body["parallel_tool_calls"]
    if body.get("top_logprobs") is not None:
        body["logprobs"] = True
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        fmt["json_schema"]["name"] = _name(fmt["json_schema"]["name"], "out")
    for key in ("logit_bias", "metadata"):
        if isinstance(body.get(key), dict):
            body[key] = {str(i) if key == "logit_bias" else f"k{i}": v for i, v in enumerate(body[key].values())}
    if isinstance(body.get("messages"), list):
        _messages(body["messages"])


def _name(name: str, fallback: str) -> str:
    return name if NAME.fullmatch(name) else fallback


def _tools(body: dict) -> list[str]:
    names: list[str] = []
    for i, tool in enumerate(body.get("tools") or ()):
        name = _name(tool["function"]["name"], f"tool_{i}")
        tool["function"]["name"] = name if name not in names else f"tool_{i}"
        names.append(tool["function"]["name"])
    return names


def _messages(messages: list) -> None:
    asked: list[str] = []
    for m in messages:
        role, content = m.get("role"), m.get("content")
        if role == "assistant":
            for j, call in enumerate(m.get("tool_calls") or ()):
                call["function"]["name"] = _name(call["function"]["name"], f"tool_{j}")
                asked.append(call["id"])
            if content is None and not m.get("tool_calls") and m.get("refusal") is None:
                m["content"] = ""
        elif role == "tool" and m.get("tool_call_id") not in asked:
            if asked:
                m["tool_call_id"] = asked[-1]
            else:  # nothing to answer: a user's turn instead
                m["role"] = "user"
                del m["tool_call_id"]
        elif role == "user" and isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    part["image_url"]["url"] = PNG
                elif isinstance(part, dict) and part.get("type") == "file":
                    part["file"] = {"file_data": PDF}  # a file id is the provider's own: any string may be unknown


# --- POST /v1/messages (Anthropic's shapes) ---------------------------------------------------
PNG_DATA = PNG.split(",", 1)[1]


def _anthropic(body: dict) -> None:
    names: list[str] = []
    for i, tool in enumerate(body.get("tools") or ()):
        name = _name(tool["name"], f"tool_{i}")
        tool["name"] = name if name not in names else f"tool_{i}"
        names.append(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None and not names:
        del body["tool_choice"]
    elif isinstance(choice, dict) and choice.get("type") == "tool":
        choice["name"] = names[0]
    asked: list[str] = []
    for m in body.get("messages") or ():
        if isinstance(m.get("content"), list):
            m["content"] = [_block(b, m.get("role"), asked) for b in m["content"]]


def _block(block: dict, role: str | None, asked: list[str]) -> dict:
    kind = block.get("type")
    if kind == "tool_use" and role == "assistant":
        block["name"] = _name(block["name"], "tool_0")
        asked.append(block["id"])
        return block
    if kind == "tool_result" and role == "user" and asked:
        block["tool_use_id"] = asked[-1]
        if isinstance(block.get("content"), list):
            block["content"] = [_image(b) for b in block["content"]]
        return block
    if kind == "image" and role == "user":
        return _image(block)
    return {"type": "text", "text": "x"}  # a block this turn cannot have: text instead


def _image(block: dict) -> dict:
    if block.get("type") == "image":
        block["source"] = {"type": "base64", "media_type": "image/png", "data": PNG_DATA}
    return block
