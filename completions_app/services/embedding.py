"""The embeddings service: what POST /v1/embeddings (and gRPC's Embed) call.

The same steps as a completion (completion.py), with the same pieces (call_steps.py):
validation, the model and the key's permission (an embedding model: a chat model is a 400),
the response cache (embeddings are deterministic: cached unless the client says no) and single
flight, a limited key's limits (admitted after the cache lookup with an estimate of the
input's tokens and its cost at the input price, settled once at the end with what was used),
routing with failover, key rotation and breakers (ProviderAdapter.embed; a fallback whose kind
has no embeddings API, or that is not an embedding model, is skipped as `unsupported:model`),
cost (input tokens at the input price: embeddings have no output), the record and metrics.
"""

from __future__ import annotations

import time

from providers_app.adapters.base import ProviderAdapter
from providers_app.adapters.registry import ADAPTERS
from providers_app.adapters.types import EmbeddingRequest, Embeddings, Usage
from providers_app.errors import GatewayError, InvalidRequest
from providers_app.models import mode_named

from .audit import Outcome, estimate_tokens
from .call_steps import (
    EMBEDDING,
    answered,
    cache_lookup,
    call_end,
    call_settled_end,
    call_start,
    error_apply,
    hit_apply,
    miss_call,
    model_resolve,
    routed_call,
    shielded,
)
from .catalog import Catalog, ModelEntry, catalog_get
from .cost import cost_compute
from .gateway_state import gateway_state
from .limit_gate import HIT, admit
from .limit_types import Ask
from .response_cache import CachedEmbeddings, embedding_cache_key
from .types import CallContext, EmbeddingInput, EmbeddingResult

MAX_INPUTS = 2048  # OpenAI's own limit on one request's inputs
ENCODINGS = ("float", "base64")


# --- validation -----------------------------------------------------------------------------
def _validate(inp: EmbeddingInput) -> None:
    if not inp.inputs:
        raise InvalidRequest("`input` must be a non-empty string or a non-empty list of strings.", field="input")
    if len(inp.inputs) > MAX_INPUTS:
        raise InvalidRequest(f"`input` takes at most {MAX_INPUTS} strings.", field="input")
    for i, text in enumerate(inp.inputs):
        if not text:
            raise InvalidRequest(f"input[{i}] is empty: every input must be a non-empty string.", field=f"input[{i}]")
    if inp.dimensions is not None and inp.dimensions < 1:
        raise InvalidRequest("dimensions must be a whole number of at least 1.", field="dimensions")
    if inp.encoding_format is not None and inp.encoding_format not in ENCODINGS:
        raise InvalidRequest("encoding_format must be float or base64.", field="encoding_format")


def _refusal(m: ModelEntry) -> GatewayError | None:
    """What a model of the chain cannot do: embed (its kind has no embeddings API, or it is a
    chat model). The requested model's is the client's 400; a fallback's skips it."""
    if ADAPTERS[m.provider.kind].embed is ProviderAdapter.embed:
        return InvalidRequest(
            f'Model {m.name!r} is served by a provider of kind "{m.provider.kind}", which has no embeddings API.',
            field="model",
        )
    if m.mode != EMBEDDING:
        return InvalidRequest(f"Model {m.name!r} is {mode_named(m.mode)} model, not an embedding model.", field="model")
    return None


def _request(m: ModelEntry, inp: EmbeddingInput) -> EmbeddingRequest:
    return EmbeddingRequest(
        model=m.upstream_model,
        inputs=inp.inputs,
        dimensions=inp.dimensions,
        encoding_format=inp.encoding_format,
        user=inp.user,
    )


def _estimate(inp: EmbeddingInput) -> int:
    return sum(estimate_tokens(text) for text in inp.inputs)


def _ask(inp: EmbeddingInput, model: ModelEntry) -> Ask:
    """A miss reserves an estimate of its input tokens and their cost at the input price."""
    tokens = _estimate(inp)
    return Ask(tokens=tokens, cost=cost_compute(usage=Usage(input_tokens=tokens), prices=model.prices))


def _apply_usage(o: Outcome, m: ModelEntry, usage: Usage) -> None:
    """The provider's count of the input; an estimate (flagged on the record) when it sent none."""
    if not usage.input_tokens:  # every input is non-empty: a real count is never 0
        usage = Usage(input_tokens=_estimate(o.inp))  # type: ignore[arg-type] - o.inp is an EmbeddingInput
        o.usage_estimated = True
    o.usage, o.prices = Usage(input_tokens=usage.input_tokens), m.prices  # input only: nothing is output
    o.cost = cost_compute(usage=o.usage, prices=m.prices)


def _result(
    o: Outcome, vectors: list[list[float] | str], usage: Usage, limit_headers: dict[str, str] | None
) -> EmbeddingResult:
    return EmbeddingResult(
        request_id=o.ctx.request_id,
        model=o.inp.model,
        served_model=o.served_model,
        provider=o.provider,
        vectors=vectors,
        usage=usage,
        cost_usd=o.cost,
        cached=o.cached,
        latency_ms=o.latency_ms,
        usage_estimated=o.usage_estimated,
        attempts=o.attempts,
        limit_headers=limit_headers,
    )


# --- the call ---------------------------------------------------------------------------------
async def embedding_create(inp: EmbeddingInput, ctx: CallContext) -> EmbeddingResult:
    """One vector per input, in input order, in the encoding asked. Raises GatewayError
    subclasses (InvalidRequest naming the field, ModelNotFound, PermissionDenied,
    LimitExceeded, upstream errors after failover); every call leaves one record."""
    o, t0 = call_start(inp, ctx, stream=False)
    try:
        _validate(inp)
        catalog = await catalog_get()
        model = model_resolve(catalog, inp.model, ctx, mode=EMBEDDING)
        if (refused := _refusal(model)) is not None:  # before the cache: never a hit for what cannot be asked
            raise refused
        key = embedding_cache_key(inp, client_id=ctx.client.id, shared=model.cache_shared) if inp.cache else None
        state = gateway_state()
        hit = await cache_lookup(state, key, state.cache.get_embeddings)
        owners = ctx.client.owners  # () for an unlimited key: it skips every limit step
        if hit is not None:
            headers = (await admit(o, state.limiter, owners, HIT)).headers if owners else None
            hit_apply(o, served_model=hit.served_model, provider=hit.provider, cost_usd=hit.cost_usd)
            o.latency_ms = (time.perf_counter() - t0) * 1000
            return _result(o, hit.vectors, hit.usage, headers)
        embeddings = await miss_call(
            o,
            state,
            key,
            lambda: _ask(inp, model),
            lambda: _call(o, catalog, model),
            lambda done: CachedEmbeddings(
                vectors=done.vectors,
                usage=o.usage,
                served_model=o.served_model,
                provider=o.provider,
                cost_usd=str(o.cost),
            ),
            state.cache.set_embeddings,
        )
        o.latency_ms = (time.perf_counter() - t0) * 1000
        headers = o.admission.headers if o.admission is not None else None
        return _result(o, embeddings.vectors, o.usage, headers)
    except BaseException as exc:
        error_apply(o, exc)
        raise
    finally:
        if o.admission is None:
            call_end(o, t0)
        else:
            await call_settled_end(o, t0)


async def _call(o: Outcome, catalog: Catalog, model: ModelEntry) -> Embeddings:
    inp: EmbeddingInput = o.inp  # type: ignore[assignment]

    def abandoned(m: ModelEntry, answer: Embeddings) -> None:
        o.served_model, o.provider = m.name, m.provider.name
        _apply_usage(o, m, answer.usage)

    async def run(m: ModelEntry, adapter: ProviderAdapter) -> Embeddings:
        # Shielded: embeddings that arrive as the client leaves are billed, so recorded.
        return await shielded(adapter.embed(_request(m, inp)), lambda answer: abandoned(m, answer))

    routed, _started = await routed_call(o, catalog, model, run, _refusal)
    answered(o, routed)
    _apply_usage(o, routed.model, routed.value.usage)
    return routed.value
