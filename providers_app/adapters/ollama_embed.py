"""Ollama's embed API (POST {base_url}/api/embed): the request body and the answer.

The body is the `ollama` SDK's `embed` (0.6.3, EmbedRequest dumped without its None fields):
`model`, `input` (a string for one input, else the list) and `dimensions` when the client
set it. The SDK's `truncate`, `options` and `keep_alive` have no counterpart in OpenAI's
request, so they are never sent (Ollama's defaults apply: inputs are truncated to the
context). `user` has no place in Ollama's API: it stays on the gateway's record only.

The answer: `embeddings` (one float list per input, in input order) and `prompt_eval_count`
(the input tokens). Ollama has no base64 encoding: when the client asked for it, the
vectors are encoded here, as OpenAI does (openai_embed.vector_base64).
"""

from __future__ import annotations

from typing import Any

from providers_app.errors import UpstreamMalformedResponse

from .body import count, field_of, str_or_none
from .openai_embed import BASE64, one_or_list, vector_base64
from .types import EmbeddingRequest, Embeddings, Usage

PROVIDER = "ollama"
EMBED_PATH = "/api/embed"


def embed_params(request: EmbeddingRequest) -> dict[str, Any]:
    """EmbeddingRequest -> the JSON body of POST /api/embed."""
    body: dict[str, Any] = {"model": request.model, "input": one_or_list(request.inputs)}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    return body


def embeddings_from(body: Any, request: EmbeddingRequest) -> Embeddings:
    """An /api/embed response body (decoded JSON) -> Embeddings, in the encoding the client asked."""
    raw = field_of(body, "embeddings")
    wanted = len(request.inputs)
    if not isinstance(raw, list) or len(raw) != wanted:
        raise UpstreamMalformedResponse(f"{PROVIDER}: expected {wanted} vectors in `embeddings`")
    for vector in raw:
        if not isinstance(vector, list):
            raise TypeError("an embedding is not a list of numbers")
    vectors: list[list[float] | str] = [vector_base64(v) for v in raw] if request.encoding_format == BASE64 else raw
    return Embeddings(
        vectors=vectors,
        usage=Usage(input_tokens=count(field_of(body, "prompt_eval_count"))),
        model=str_or_none(field_of(body, "model")),
    )
