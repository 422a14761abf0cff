"""The schema language the /v1 declarations are written in: one shape, checked and documented.

The toy declaration below is the kind #13 needs (nested objects, arrays, enums, a oneOf
told apart by JSON type and one by a discriminator, a map, free-form JSON)."""

from __future__ import annotations

import pytest

from completions_app.api.shapes import (
    Array,
    Bool,
    Components,
    Int,
    Map,
    Number,
    Object,
    OneOf,
    ShapeError,
    Str,
    UnknownFields,
)

TEXT = Object("Text", {"type": Str(enum=("text",)), "text": Str()}, required=("type", "text"))
IMAGE = Object("Image", {"type": Str(enum=("image_url",)), "url": Str(min_len=1)}, required=("type", "url"))
TOOL = Object(
    "Tool",
    {"name": Str(min_len=1, max_len=64), "parameters": Object(None, {}, extra="keep"), "strict": Bool(default=False)},
    required=("name",),
)
REQUEST = Object(
    "Request",
    {
        "content": OneOf(Str(), Array(OneOf(TEXT, IMAGE, discriminator="type"), min_items=1)),
        "tools": Array(TOOL, max_items=2),
        "tool_choice": OneOf(Str(enum=("auto", "none")), Object("Named", {"name": Str()}, required=("name",))),
        "n": Int(minimum=1, maximum=4),
        "temperature": Number(minimum=0, maximum=2),
        "logit_bias": Map(Number(minimum=-100, maximum=100), max_items=3),
        "seed": Int(enum=(7,)),
    },
    required=("content",),
)


def test_a_valid_body_comes_back_checked_with_defaults_and_floats():
    body = {
        "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "url": "https://x/y.png"}],
        "tools": [{"name": "f", "parameters": {"type": "object", "anything": [1]}}],
        "tool_choice": {"name": "f"},
        "temperature": 1,
        "logit_bias": {"42": -1},
        "n": None,  # null is "not given"
    }
    out = REQUEST.check(body)
    assert out["tools"] == [{"name": "f", "parameters": {"type": "object", "anything": [1]}, "strict": False}]
    assert type(out["temperature"]) is float and out["logit_bias"] == {"42": -1.0}
    assert "n" not in out
    assert REQUEST.check({"content": "plain", "tool_choice": "auto"})["tool_choice"] == "auto"


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ({}, "content", "`content` is required."),
        ({"content": 3}, "content", "`content` must be a string or a list."),
        ({"content": []}, "content", "`content` must be a non-empty list."),
        ({"content": [{"type": "audio"}]}, "content[0].type", "must be one of text, image_url."),
        ({"content": [{"type": "image_url", "url": ""}]}, "content[0].url", "must be a non-empty string."),
        ({"content": "x", "tools": [{"name": "f"}, {"name": True}]}, "tools[1].name", "must be a string of 1 to 64"),
        ({"content": "x", "tool_choice": "required"}, "tool_choice", "must be one of auto, none."),
        ({"content": "x", "tool_choice": {}}, "tool_choice.name", "is required."),
        ({"content": "x", "n": True}, "n", "must be an integer between 1 and 4."),
        ({"content": "x", "temperature": "0"}, "temperature", "must be a number between 0 and 2."),
        ({"content": "x", "logit_bias": {"1": 101}}, "logit_bias.1", "between -100 and 100"),
        ({"content": "x", "seed": 8}, "seed", "is not supported (only 7)."),
    ],
)
def test_errors_name_the_path(body, where, message):
    with pytest.raises(ShapeError) as caught:
        REQUEST.check(body)
    assert caught.value.where() == where
    assert message in caught.value.message()


def test_undeclared_fields_are_refused_by_name_or_ignored_when_declared_so():
    with pytest.raises(UnknownFields) as caught:
        REQUEST.check({"content": "x", "tools": [{"name": "f", "zz": 1, "aa": 2}]})
    assert caught.value.message() == "Unknown field(s) in `tools[0]`: aa, zz."
    assert caught.value.field() == "tools[0].aa"
    loose = Object(None, {"a": Int()}, extra="ignore")
    assert loose.check({"a": 1, "b": 2}) == {"a": 1}


def test_exactly_one_of():
    shape = Object(None, {"prompt": Str(), "messages": Array(Str())}, exactly_one_of=("prompt", "messages"))
    assert shape.check({"prompt": "x", "messages": None}) == {"prompt": "x"}
    for body, text in (({}, "Send `prompt` or `messages`."), ({"prompt": "x", "messages": []}, "not both")):
        with pytest.raises(ShapeError, match=text):
            shape.check(body)


def test_the_same_declaration_renders_as_openapi():
    components = Components()
    assert REQUEST.schema(components) == {"$ref": "#/components/schemas/Request"}
    doc = components.schemas["Request"]
    assert doc["required"] == ["content"] and doc["additionalProperties"] is False
    props = doc["properties"]
    assert props["n"] == {"type": "integer", "minimum": 1, "maximum": 4, "nullable": True}
    assert props["seed"]["enum"] == [7, None]  # nullable: OpenAPI 3.0.3 lists null in the enum
    parts = props["content"]["oneOf"][1]["items"]
    assert parts["oneOf"] == [{"$ref": "#/components/schemas/Text"}, {"$ref": "#/components/schemas/Image"}]
    assert parts["discriminator"]["mapping"]["image_url"] == "#/components/schemas/Image"
    assert props["logit_bias"]["additionalProperties"]["maximum"] == 100
    tool = components.schemas["Tool"]
    assert tool["properties"]["strict"]["default"] is False
    assert tool["properties"]["parameters"]["additionalProperties"] is True


def test_declaration_mistakes_fail_at_import():
    with pytest.raises(TypeError):
        OneOf(Str(), Str(enum=("a",)))  # two alternatives for one JSON type
    with pytest.raises(TypeError):
        Object(None, {"a": Str()}, required=("b",))
