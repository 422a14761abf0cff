"""POST /v1/embeddings, in OpenAI's shapes: the openai SDK's `embeddings.create` works by
changing base_url, whatever kind of provider serves the model.

The body is checked against declarations.EMBEDDINGS (embedding_shapes.py), made the
service's EmbeddingInput, and the EmbeddingResult rendered as OpenAI's list of embeddings.
Vectors are passed on as the service gives them (floats, or base64 text): nothing is
converted here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from completions_app.services.embedding import embedding_create
from completions_app.services.types import CallContext, EmbeddingInput, EmbeddingResult

from .common import ApiRequest, result_headers, wants_cache
from .embedding_shapes import EMBEDDING_REQUEST
from .parsing import parse_body
from .refusals import authenticated, refusal_recorded
from .replies import JsonReply, Reply

INTERFACE = "openai"
# What base64 text is made of: nothing JSON would escape.
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def embedding_input(body: dict[str, Any], *, cache_allowed: bool) -> EmbeddingInput:
    """The service's input from a body checked against EMBEDDING_REQUEST."""
    given = body["input"]
    return EmbeddingInput(
        model=body["model"],
        inputs=(given,) if type(given) is str else tuple(given),
        dimensions=body.get("dimensions"),
        encoding_format=body.get("encoding_format"),
        user=body.get("user"),
        cache=cache_allowed and body["cache"],
    )


def embedding_json(result: EmbeddingResult) -> dict[str, Any]:
    """OpenAI's answer: one {"object": "embedding"} per input, in input order."""
    tokens = result.usage.input_tokens
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(result.vectors)],
        "model": result.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _is_base64(vector: list[float] | str) -> bytes | None:
    """The vector's bytes when it is base64 text (nothing in it that JSON would escape), else None."""
    if type(vector) is str and vector.isascii():
        raw = vector.encode("ascii")
        if not raw.translate(None, _BASE64):
            return raw
    return None


def embedding_body(result: EmbeddingResult) -> bytes:
    """embedding_json(result) as JSON text. A base64 vector (what the openai SDK asks for) is
    ~8 KB at 1536 dimensions: json.dumps would scan a 16-text answer for characters to escape
    (~0.3 ms); base64 has none, so its bytes are joined in as they are (one copy). Floats, or
    text that is not base64 (escaped, lone surrogates too), go through json.dumps."""
    parts = [b'{"object":"list","data":[']
    for i, vector in enumerate(result.vectors):
        head = b'%s{"object":"embedding","index":%d,"embedding":' % (b"," if i else b"", i)
        raw = _is_base64(vector)
        if raw is not None:
            parts += (head, b'"', raw, b'"}')
        else:
            parts += (head, json.dumps(vector).encode(), b"}")
    tokens = result.usage.input_tokens
    parts.append(
        b'],"model":%s,"usage":{"prompt_tokens":%d,"total_tokens":%d}}'
        % (json.dumps(result.model).encode(), tokens, tokens)
    )
    return b"".join(parts)


@dataclass(slots=True)
class RenderedReply(JsonReply):
    """A JSON reply whose body is already rendered."""

    rendered: bytes = b""

    def body(self) -> bytes:
        return self.rendered


async def embeddings_create(request: ApiRequest) -> Reply:
    """POST /v1/embeddings. A request refused while parsing leaves a record, as completions do."""
    client = await authenticated(request, INTERFACE)
    ctx = CallContext(request_id=request.aiproxy_request_id, client=client, interface=INTERFACE)  # type: ignore[attr-defined]
    with refusal_recorded(request, ctx):
        inp = embedding_input(parse_body(request, EMBEDDING_REQUEST), cache_allowed=wants_cache(request))
    result = await embedding_create(inp, ctx)
    return RenderedReply(None, headers=result_headers(result), rendered=embedding_body(result))
