"""POST /v1/embeddings: the request and the answer, in OpenAI's shapes (declarations.EMBEDDINGS)."""

from __future__ import annotations

from typing import Any

from .shapes import Array, Bool, Check, Int, Number, Object, OneOf, Str
from .shapes.base import ShapeError

MAX_INPUTS = 2048  # OpenAI's own limit per request
TOKEN_ARRAYS = "input: token arrays are not supported (send text)."  # noqa: S105 - a message, not a secret


class EmbeddingInputShape(OneOf):
    """A string or a list of strings. OpenAI also takes token ids (a list of integers, or a
    list of such lists); no provider kind here can be sent those, so they are refused by name
    rather than as "must be a string"."""

    def compile(self) -> Check:
        general = super().compile()

        def check(value: Any) -> Any:
            try:
                return general(value)
            except ShapeError:
                if type(value) is list and value and all(type(v) in (int, list) for v in value):
                    raise ShapeError("", [], TOKEN_ARRAYS) from None
                raise

        return check


EMBEDDING_INPUT = EmbeddingInputShape(
    Str(min_len=1),
    Array(Str(min_len=1), min_items=1, max_items=MAX_INPUTS),
    description=f"The text to embed, or up to {MAX_INPUTS} texts (one vector each, in order). "
    "Token-id arrays are not supported.",
)
EMBEDDING_REQUEST = Object(
    "EmbeddingRequest",
    {
        "model": Str(min_len=1, max_len=256, description="An embedding model from GET /v1/models (mode `embedding`)."),
        "input": EMBEDDING_INPUT,
        "dimensions": Int(minimum=1, maximum=65_536, description="Shorter vectors, where the model can make them."),
        "encoding_format": Str(
            enum=("float", "base64"),
            description="`base64`: each vector as the base64 of its little-endian float32 array. Default float.",
        ),
        "user": Str(max_len=256, description="The end user, for the record."),
        "cache": Bool(default=True, description="false: neither read nor write the response cache."),
    },
    required=("model", "input"),
    example={"model": "text-embedding-3-small", "input": ["first text", "second text"]},
)
EMBEDDING_RESPONSE = Object(
    "EmbeddingList",
    {
        "object": Str(enum=("list",)),
        "data": Array(
            Object(
                "Embedding",
                {
                    "object": Str(enum=("embedding",)),
                    "index": Int(minimum=0, description="The input's position."),
                    "embedding": OneOf(
                        Array(Number()),
                        Str(description="encoding_format base64: the little-endian float32 array, base64."),
                    ),
                },
                required=("object", "index", "embedding"),
            )
        ),
        "model": Str(description="As requested."),
        "usage": Object(
            "EmbeddingUsage",
            {"prompt_tokens": Int(minimum=0), "total_tokens": Int(minimum=0)},
            required=("prompt_tokens", "total_tokens"),
        ),
    },
    required=("object", "data", "model", "usage"),
)
