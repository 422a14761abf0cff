"""The failed-auth limit on gRPC (issue 14, item 3): the peer address from the call's
context, `x-forwarded-for` metadata believed only from TRUSTED_PROXIES; past the limit an
unknown key gets RESOURCE_EXHAUSTED with a retry-after trailer and costs no lookup, while a
known key and another address are answered."""

from __future__ import annotations

import secrets

import grpc
import pytest

from aiproxy.v1 import proxy_pb2 as pb
from completions_app.services import auth_cache

from .grpc_fixtures import GrpcGateway, fake_upstream, gateway_rows, grpc_gateway

__all__ = ["fake_upstream", "gateway_rows", "grpc_gateway"]  # fixtures, used by name

pytestmark = pytest.mark.django_db(transaction=True)


def _junk(forwarded_for: str | None = None) -> tuple[tuple[str, str], ...]:
    meta = (("authorization", f"Bearer {secrets.token_urlsafe(24)}"),)
    return (*meta, ("x-forwarded-for", forwarded_for)) if forwarded_for else meta


async def _code(gw: GrpcGateway, metadata: tuple[tuple[str, str], ...]) -> grpc.aio.AioRpcError | None:
    try:
        await gw.stub.GetProviderStatus(pb.GetProviderStatusRequest(), metadata=metadata)
    except grpc.aio.AioRpcError as exc:
        return exc
    return None


async def test_a_flooding_peer_is_refused_before_lookups_and_others_are_not(
    grpc_gateway: GrpcGateway, gw_state, settings, monkeypatch
) -> None:
    gw = grpc_gateway
    lookups: list[str] = []
    real = auth_cache.identity_lookup
    monkeypatch.setattr(auth_cache, "identity_lookup", lambda h: lookups.append(h) or real(h))
    gw_state.auth.limit.per_minute = 5
    settings.TRUSTED_PROXIES = ["127.0.0.1", "::1"]  # the test's peer plays a proxy for the second client

    assert await _code(gw, gw.auth) is None  # the valid key, known from now on
    errors = [await _code(gw, _junk("203.0.113.7")) for _ in range(200)]
    codes = [e.code() for e in errors if e is not None]
    assert codes.count(grpc.StatusCode.UNAUTHENTICATED) == 5
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 195
    trailers = dict(errors[-1].trailing_metadata() or ())
    assert 1 <= int(trailers["retry-after"]) <= 60
    assert len(lookups) == 1 + 5

    assert await _code(gw, gw.auth) is None  # a known key is still answered
    other = await _code(gw, _junk("198.51.100.2"))
    assert other is not None and other.code() == grpc.StatusCode.UNAUTHENTICATED  # another client: not limited
