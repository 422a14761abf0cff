"""The response cache's key covers everything that shapes an answer, options included."""

from __future__ import annotations

from dataclasses import replace

from completions_app.services.response_cache import cache_key
from completions_app.services.types import CompletionInput
from providers_app.adapters.types import ChatOptions, ImagePart, Message, ResponseFormat, TextPart, Tool, ToolChoice

BASE = CompletionInput(model="m", messages=(Message("user", "hi"),), temperature=0)
TOOLS = ChatOptions(tools=(Tool("lookup", parameters={"type": "object"}),))


def _key(inp: CompletionInput) -> str:
    return cache_key(inp, client_id=1)


def test_every_option_changes_the_key():
    variants = [
        BASE,
        replace(BASE, options=TOOLS),
        replace(BASE, options=replace(TOOLS, tool_choice=ToolChoice("required"))),
        replace(BASE, options=replace(TOOLS, tools=(Tool("lookup", parameters={"type": "object"}, strict=True),))),
        replace(BASE, options=ChatOptions(response_format=ResponseFormat("json_object"))),
        replace(BASE, options=ChatOptions(seed=1)),
        replace(BASE, options=ChatOptions(seed=2)),
        replace(BASE, options=ChatOptions(n=2)),
        replace(BASE, options=ChatOptions(logprobs=True)),
        replace(BASE, options=ChatOptions(reasoning_effort="high")),
    ]
    keys = [_key(v) for v in variants]
    assert len(set(keys)) == len(keys)


def test_images_and_tool_turns_change_the_key():
    image = Message("user", "hi", parts=(TextPart("hi"), ImagePart("https://x.test/a.png")))
    other_image = Message("user", "hi", parts=(TextPart("hi"), ImagePart("https://x.test/b.png")))
    named = Message("user", "hi", name="alice")
    keys = {_key(replace(BASE, messages=(m,))) for m in (Message("user", "hi"), image, other_image, named)}
    assert len(keys) == 4


def test_the_same_request_has_the_same_key():
    assert _key(replace(BASE, options=TOOLS)) == _key(replace(BASE, options=ChatOptions(tools=TOOLS.tools)))
