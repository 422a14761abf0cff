"""A limited key over gRPC (real grpc.aio server, generated stubs, limits from the database):
x-ratelimit-* in the trailers of a successful call (unary and stream); a refusal is
RESOURCE_EXHAUSTED with retry-after, x-ratelimit-*, the error type, the limit, its owner and
(for a budget) when it resets in the trailers."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest

from aiproxy.v1 import proxy_pb2 as pb
from completions_app.models import ClientKey
from completions_app.services import auth
from completions_app.services.db import db_run
from tests.factories import minute_room

from .grpc_fixtures import GrpcGateway, fake_upstream, gateway_rows, grpc_gateway

__all__ = ["fake_upstream", "gateway_rows", "grpc_gateway"]  # fixtures, used by name

pytestmark = pytest.mark.django_db(transaction=True)


async def limit(**fields: object) -> str:
    """Set limits on the gateway's client key; its name."""
    minute_room()

    def update() -> str:
        row = ClientKey.objects.get(name__startswith="grpc-e2e-")
        for name, value in fields.items():
            setattr(row, name, value)
        row.save()
        return row.name

    name = await db_run(update)
    auth.auth_cache_clear()
    return name


async def refused(call: object) -> tuple[grpc.aio.AioRpcError, dict[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    error = info.value
    return error, dict(error.trailing_metadata() or ())


async def test_complete_carries_ratelimit_trailers_and_a_refusal_is_resource_exhausted(grpc_gateway: GrpcGateway):
    gw = grpc_gateway
    name = await limit(rpm=1, tpm=50_000)
    call = gw.stub.Complete(
        pb.CompleteRequest(model=gw.rows.model, prompt="hello there", max_tokens=10), metadata=gw.auth
    )
    assert (await call).text == "hello there"
    trailers = dict(await call.trailing_metadata())
    assert (trailers["x-ratelimit-limit-requests"], trailers["x-ratelimit-remaining-requests"]) == ("1", "0")
    assert (trailers["x-ratelimit-limit-tokens"], trailers["x-ratelimit-remaining-tokens"]) == ("50000", "49987")

    error, trailers = await refused(
        gw.stub.Complete(pb.CompleteRequest(model=gw.rows.model, prompt="again"), metadata=gw.auth)
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"key:{name}" in error.details()
    assert trailers["x-error-type"] == "rate_limit_exceeded"
    assert (trailers["x-aiproxy-limit"], trailers["x-aiproxy-limit-owner"]) == ("rpm", f"key:{name}")
    assert 1 <= int(trailers["retry-after"]) <= 60
    assert trailers["x-ratelimit-remaining-requests"] == "0"
    assert "x-aiproxy-limit-resets-at" not in trailers
    assert len(gw.fake.requests) == 1


async def test_a_spent_budget_is_resource_exhausted_with_its_reset_time(grpc_gateway: GrpcGateway):
    gw = grpc_gateway
    name = await limit(budget_usd_day=Decimal("0.000001"))
    error, trailers = await refused(
        gw.stub.Complete(pb.CompleteRequest(model=gw.rows.model, prompt="hi"), metadata=gw.auth)
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert trailers["x-error-type"] == "budget_exceeded"
    assert (trailers["x-aiproxy-limit"], trailers["x-aiproxy-limit-owner"]) == ("budget_usd_day", f"key:{name}")
    assert trailers["x-aiproxy-limit-resets-at"].endswith("T00:00:00+00:00")
    assert int(trailers["retry-after"]) >= 1
    assert gw.fake.requests == []


async def test_stream_complete_carries_ratelimit_trailers_and_is_refused_past_the_limit(grpc_gateway: GrpcGateway):
    gw = grpc_gateway
    await limit(rpm=1)
    call = gw.stub.StreamComplete(pb.CompleteRequest(model=gw.rows.model, prompt="stream me"), metadata=gw.auth)
    messages = [m async for m in call]
    assert messages[-1].done
    trailers = dict(await call.trailing_metadata())
    assert (trailers["x-ratelimit-limit-requests"], trailers["x-ratelimit-remaining-requests"]) == ("1", "0")
    call = gw.stub.StreamComplete(pb.CompleteRequest(model=gw.rows.model, prompt="again"), metadata=gw.auth)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        [m async for m in call]
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(info.value.trailing_metadata())["x-aiproxy-limit"] == "rpm"


async def test_an_unlimited_key_gets_no_ratelimit_trailers(grpc_gateway: GrpcGateway):
    gw = grpc_gateway
    call = gw.stub.Complete(pb.CompleteRequest(model=gw.rows.model, prompt="free"), metadata=gw.auth)
    await call
    assert not [k for k, _ in await call.trailing_metadata() if k.startswith("x-ratelimit")]
