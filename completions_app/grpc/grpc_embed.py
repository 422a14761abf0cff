"""EmbedRequest (proto) -> EmbeddingInput, and EmbeddingResult -> EmbedResponse.

The same checks as POST /v1/embeddings (embedding_shapes.py), in the proto's names: `inputs`
where REST says `input`, `encoding` where it says `encoding_format`.
"""

from __future__ import annotations

from aiproxy.v1 import proxy_pb2 as pb
from completions_app.services.cost import cost_format
from completions_app.services.types import EmbeddingInput, EmbeddingResult
from providers_app.errors import GatewayError, InvalidRequest

from .grpc_render import usage_pb

MAX_INPUTS = 2048  # as REST (api/embedding_shapes.py)
ENCODINGS = ("float", "base64")
_REST_NAMES = (("encoding_format", "encoding"), ("input", "inputs"))


def embedding_input_from(request: pb.EmbedRequest) -> EmbeddingInput:
    if not request.model:
        raise InvalidRequest("`model` is required.", field="model")
    if not 1 <= len(request.inputs) <= MAX_INPUTS:
        raise InvalidRequest(f"`inputs` must be 1 to {MAX_INPUTS} texts.", field="inputs")
    for i, text in enumerate(request.inputs):
        if not text:
            raise InvalidRequest(f"`inputs[{i}]` must be a non-empty string.", field=f"inputs[{i}]")
    if request.HasField("dimensions") and request.dimensions < 1:
        raise InvalidRequest("`dimensions` must be at least 1.", field="dimensions")
    if request.encoding and request.encoding not in ENCODINGS:
        raise InvalidRequest("`encoding` must be float or base64.", field="encoding")
    if len(request.user) > 256:
        raise InvalidRequest("`user` must be at most 256 characters.", field="user")
    return EmbeddingInput(
        model=request.model,
        inputs=tuple(request.inputs),
        dimensions=request.dimensions if request.HasField("dimensions") else None,
        encoding_format=request.encoding or None,
        user=request.user or None,
        cache=request.cache if request.HasField("cache") else True,
    )


def embed_field_named(exc: Exception) -> Exception:
    """`exc` with a field the service named in REST's words (`input[3]`) in the proto's (`inputs[3]`)."""
    if isinstance(exc, GatewayError) and exc.field:
        for rest, proto in _REST_NAMES:
            if exc.field == rest or exc.field.startswith((f"{rest}[", f"{rest}.")):
                field = proto + exc.field[len(rest) :]
                exc.message = exc.message.replace(f"`{exc.field}`", f"`{field}`")
                exc.field = field
                break
    return exc


def embed_response(result: EmbeddingResult) -> pb.EmbedResponse:
    embeddings = [
        pb.Embedding(index=i, base64=v) if type(v) is str else pb.Embedding(index=i, values=v)
        for i, v in enumerate(result.vectors)
    ]
    return pb.EmbedResponse(
        embeddings=embeddings,
        usage=usage_pb(result.usage),
        cost_usd=cost_format(result.cost_usd),
        cached=result.cached,
        provider=result.provider,
        model=result.model,
        served_model=result.served_model,
        latency_ms=result.latency_ms,
        request_id=result.request_id,
    )
