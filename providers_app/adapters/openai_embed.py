"""OpenAI's embeddings API (POST {base_url}/embeddings): the request body and the answer.

The body is the `openai` SDK's own (tests/unit/adapters/test_contract_embeddings.py): `model`,
`input` (a string for one input, else the list), and `user`, `dimensions`, `encoding_format`
only when the client set them. The SDK asks for base64 when its caller sets no encoding and
decodes it itself; the gateway sends what ITS client asked (or nothing: OpenAI's default,
float), so that the client gets its own encoding back.

The answer: `data[i].embedding` placed by `data[i].index`, `usage.prompt_tokens` (the input:
embeddings have no output). OpenAI's "base64" is the base64 text of a little-endian float32
array; an OpenAI-compatible server that answers the other encoding than asked is converted
here (`vector_base64` / `vector_floats`), so the client always gets what it asked.
"""

from __future__ import annotations

import base64
import sys
from array import array
from typing import Any

from providers_app.errors import UpstreamMalformedResponse

from .body import count, field_of, str_or_none
from .types import EmbeddingRequest, Embeddings, Usage

PROVIDER = "openai"
EMBEDDINGS_PATH = "/embeddings"
BASE64 = "base64"
_BIG_ENDIAN = sys.byteorder == "big"


def vector_base64(vector: list[float]) -> str:
    """A float vector as OpenAI's base64 encoding: its little-endian float32 array, in base64."""
    packed = array("f", vector)
    if _BIG_ENDIAN:
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def vector_floats(text: str) -> list[float]:
    """OpenAI's base64 encoding of a vector back to its floats."""
    packed = array("f")
    packed.frombytes(base64.b64decode(text, validate=True))
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed.tolist()


def one_or_list(inputs: tuple[str, ...]) -> str | list[str]:
    """`input` as the APIs take it: one string alone, several as a list."""
    return inputs[0] if len(inputs) == 1 else list(inputs)


def embed_params(request: EmbeddingRequest) -> dict[str, Any]:
    """EmbeddingRequest -> the JSON body of POST /embeddings (the SDK's key order)."""
    body: dict[str, Any] = {"model": request.model, "input": one_or_list(request.inputs)}
    if request.user is not None:
        body["user"] = request.user
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    if request.encoding_format is not None:
        body["encoding_format"] = request.encoding_format
    return body


def as_encoded(vector: Any, encoding_format: str | None) -> list[float] | str:
    """One vector in the encoding the client asked (converted when the server sent the other).
    Raises TypeError on anything else (classified as a malformed answer)."""
    if isinstance(vector, str):
        return vector if encoding_format == BASE64 else vector_floats(vector)
    if isinstance(vector, list):
        return vector_base64(vector) if encoding_format == BASE64 else vector
    raise TypeError(f"an embedding was {type(vector).__name__}")


def embeddings_from(body: Any, request: EmbeddingRequest) -> Embeddings:
    """A /embeddings response body (decoded JSON) -> Embeddings, one vector per input in input order."""
    data = field_of(body, "data")
    wanted = len(request.inputs)
    if not isinstance(data, list) or len(data) != wanted:
        raise UpstreamMalformedResponse(f"{PROVIDER}: expected {wanted} embeddings in `data`")
    vectors: list[list[float] | str | None] = [None] * wanted
    for position, item in enumerate(data):
        index = field_of(item, "index")
        if index is None:
            index = position
        if not isinstance(index, int) or not 0 <= index < wanted or vectors[index] is not None:
            raise UpstreamMalformedResponse(f"{PROVIDER}: an embedding has a wrong or repeated index")
        vectors[index] = as_encoded(item["embedding"], request.encoding_format)
    usage = field_of(body, "usage")
    return Embeddings(
        vectors=vectors,  # type: ignore[arg-type] - every place filled: len(data) == wanted, indexes distinct
        usage=Usage(input_tokens=count(field_of(usage, "prompt_tokens"))),
        model=str_or_none(field_of(body, "model")),
    )
