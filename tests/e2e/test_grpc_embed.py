"""gRPC Embed end to end: the real grpc.aio server, generated stubs, the real embedding service
and database, and the wire-level fakes behind an openai-, an ollama- and an anthropic-kind
provider (test_grpc.py's fixtures, plus embedding models)."""

from __future__ import annotations

import asyncio
import base64
import struct
import uuid
from decimal import Decimal

import grpc
import pytest

from aiproxy.v1 import proxy_pb2 as pb
from tests.fakes.embedding import vector_for
from tests.fakes.server import FakeUpstream

from .grpc_fixtures import GatewayRows, GrpcGateway, _invalidate_caches, fake_upstream, gateway_rows, grpc_gateway

__all__ = ["fake_upstream", "gateway_rows", "grpc_gateway"]  # fixtures, used by name

pytestmark = pytest.mark.django_db(transaction=True)

PRICE = Decimal("0.02")  # per million input tokens, every embedding model here
TEXTS = ["the quick brown fox", "jumps over", "the lazy dog again today"]
WORDS = 4 + 2 + 5  # the fakes count words as tokens


@pytest.fixture
def embed_models(gateway_rows: GatewayRows, fake_upstream: FakeUpstream) -> dict[str, str]:
    """kind -> the name of an embedding model on a provider of that kind (the fake behind each)."""
    from providers_app.models import Model, Provider, ProviderKey

    suffix = uuid.uuid4().hex[:8]  # breaker state is kept per provider name, in-process
    providers = {"openai": Provider.objects.get(name=gateway_rows.provider)}
    for kind, url in (("ollama", fake_upstream.ollama_base_url), ("anthropic", fake_upstream.anthropic_base_url)):
        providers[kind] = Provider.objects.create(name=f"fake-{kind}-{suffix}", kind=kind, base_url=url, timeout_s=30)
    key = ProviderKey(provider=providers["anthropic"], label="k1")
    key.set_secret("sk-ant-fake-0123456789")
    key.save()
    names = {}
    for kind, provider in providers.items():
        names[kind] = f"emb-{kind}"
        Model.objects.create(
            name=names[kind],
            provider=provider,
            upstream_model=f"embed-{kind}",
            input_per_mtok=PRICE,
            output_per_mtok=Decimal(0),
            mode="embedding",
        )
    _invalidate_caches()
    return names


async def rpc_error(awaitable: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await awaitable  # type: ignore[misc]
    return info.value


def unpacked(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


async def record_of(request_id: str):  # type: ignore[no-untyped-def]
    from completions_app.models import CompletionRecord
    from completions_app.services.recorder import records_flush

    assert await asyncio.to_thread(records_flush, 10.0)
    return await CompletionRecord.objects.aget(request_id=request_id)


@pytest.mark.parametrize("kind", ["openai", "ollama"])
async def test_embed_answers_vectors_in_order_priced_and_recorded(
    grpc_gateway: GrpcGateway, embed_models: dict[str, str], kind: str
) -> None:
    gw, model = grpc_gateway, embed_models[kind]
    call = gw.stub.Embed(
        pb.EmbedRequest(model=model, inputs=TEXTS), metadata=(*gw.auth, ("x-request-id", f"grpc-embed-{kind}"))
    )
    response = await call
    assert [e.index for e in response.embeddings] == [0, 1, 2]
    assert [list(e.values) for e in response.embeddings] == [vector_for(t) for t in TEXTS]
    assert all(e.base64 == "" for e in response.embeddings)
    assert (response.usage.input_tokens, response.usage.output_tokens) == (WORDS, 0)
    assert Decimal(response.cost_usd) == PRICE * WORDS / Decimal(1_000_000)
    assert (response.model, response.served_model, response.cached) == (model, model, False)
    assert response.request_id == f"grpc-embed-{kind}" and response.latency_ms > 0
    [sent] = gw.fake.requests
    assert sent.path == ("/v1/embeddings" if kind == "openai" else "/api/embed")

    record = await record_of(f"grpc-embed-{kind}")
    assert (record.interface, record.status, record.model) == ("grpc", "ok", model)
    assert (record.input_tokens, record.output_tokens) == (WORDS, 0)
    assert record.cost_usd == Decimal(response.cost_usd)


async def test_embed_base64_and_dimensions(grpc_gateway: GrpcGateway, embed_models: dict[str, str]) -> None:
    gw = grpc_gateway
    response = await gw.stub.Embed(
        pb.EmbedRequest(model=embed_models["openai"], inputs=TEXTS[:2], encoding="base64", dimensions=16),
        metadata=gw.auth,
    )
    assert [unpacked(e.base64) for e in response.embeddings] == [vector_for(t, 16) for t in TEXTS[:2]]
    assert all(not e.values for e in response.embeddings)
    assert gw.fake.requests[-1].json["dimensions"] == 16


async def test_a_repeated_embed_is_a_cache_hit_with_the_original_usage(
    grpc_gateway: GrpcGateway, embed_models: dict[str, str]
) -> None:
    gw = grpc_gateway
    request = pb.EmbedRequest(model=embed_models["ollama"], inputs=["cache me", "and me too"])
    first = await gw.stub.Embed(request, metadata=gw.auth)
    second = await gw.stub.Embed(request, metadata=gw.auth)
    assert (first.cached, second.cached, second.cost_usd) == (False, True, "0")
    assert second.usage == first.usage and second.usage.input_tokens == 5
    assert list(second.embeddings) == list(first.embeddings)
    assert len(gw.fake.requests) == 1
    request.cache = False  # asked not to: the upstream answers again
    assert (await gw.stub.Embed(request, metadata=gw.auth)).cached is False
    assert len(gw.fake.requests) == 2


async def test_an_anthropic_embedding_model_and_a_chat_model_are_invalid_argument(
    grpc_gateway: GrpcGateway, embed_models: dict[str, str]
) -> None:
    gw = grpc_gateway
    error = await rpc_error(
        gw.stub.Embed(
            pb.EmbedRequest(model=embed_models["anthropic"], inputs=["x"]),
            metadata=(*gw.auth, ("x-request-id", "grpc-embed-an")),
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "anthropic" in (error.details() or "").lower()
    error = await rpc_error(gw.stub.Embed(pb.EmbedRequest(model=gw.rows.model, inputs=["x"]), metadata=gw.auth))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "chat model" in (error.details() or "")
    assert gw.fake.requests == []
    record = await record_of("grpc-embed-an")
    assert (record.status, record.cost_usd) == ("error", Decimal(0))


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.EmbedRequest(model="emb-openai"), "inputs"),
        (pb.EmbedRequest(model="emb-openai", inputs=["a", ""]), "inputs[1]"),
        (pb.EmbedRequest(model="emb-openai", inputs=["a"], encoding="int8"), "encoding"),
        (pb.EmbedRequest(model="emb-openai", inputs=["a"], dimensions=0), "dimensions"),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field_and_recorded(
    grpc_gateway: GrpcGateway, embed_models: dict[str, str], request_: pb.EmbedRequest, field: str
) -> None:
    gw = grpc_gateway
    error = await rpc_error(gw.stub.Embed(request_, metadata=(*gw.auth, ("x-request-id", "grpc-embed-bad"))))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    trailers = dict(error.trailing_metadata() or ())
    assert trailers.get("x-error-field") == field and field in (error.details() or "")
    assert gw.fake.requests == []
    record = await record_of("grpc-embed-bad")
    assert (record.interface, record.status, record.model) == ("grpc", "error", "emb-openai")


async def test_embed_needs_a_key(grpc_gateway: GrpcGateway, embed_models: dict[str, str]) -> None:
    error = await rpc_error(grpc_gateway.stub.Embed(pb.EmbedRequest(model="emb-openai", inputs=["x"])))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_limited_key_gets_its_ratelimit_trailers_and_a_refusal(
    grpc_gateway: GrpcGateway, embed_models: dict[str, str]
) -> None:
    from completions_app.models import ClientKey
    from completions_app.services import auth
    from completions_app.services.db import db_run

    await db_run(lambda: ClientKey.objects.filter(name__startswith="grpc-e2e-").update(rpm=1))
    auth.auth_cache_clear()
    gw = grpc_gateway
    call = gw.stub.Embed(pb.EmbedRequest(model=embed_models["openai"], inputs=TEXTS), metadata=gw.auth)
    assert len((await call).embeddings) == 3
    trailers = dict(await call.trailing_metadata())
    assert (trailers["x-ratelimit-limit-requests"], trailers["x-ratelimit-remaining-requests"]) == ("1", "0")
    error = await rpc_error(
        gw.stub.Embed(pb.EmbedRequest(model=embed_models["openai"], inputs=["x"]), metadata=gw.auth)
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(error.trailing_metadata() or ())["x-ratelimit-remaining-requests"] == "0"
    assert len(gw.fake.requests) == 1
