"""GetProviderStatus for a key restricted to some models lists only the providers behind
them (and their fallbacks), as /v1/providers/status does (issue 14, item 7)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from aiproxy.v1 import proxy_pb2 as pb
from providers_app.models import Provider
from tests.factories import client_create, model_create, provider_create

from .grpc_fixtures import GrpcGateway, fake_upstream, gateway_rows, grpc_gateway

__all__ = ["fake_upstream", "gateway_rows", "grpc_gateway"]  # fixtures, used by name

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_restricted_key_sees_only_the_providers_of_its_models(grpc_gateway: GrpcGateway) -> None:
    gw = grpc_gateway

    def rows() -> str:
        hidden = provider_create("hidden-provider", Provider.Kind.OPENAI, "http://127.0.0.1:9")
        model_create("hidden-model", hidden)
        return client_create("restricted", (gw.rows.model,))

    restricted = await sync_to_async(rows)()
    seen = await gw.stub.GetProviderStatus(
        pb.GetProviderStatusRequest(), metadata=(("authorization", f"Bearer {restricted}"),)
    )
    assert [p.name for p in seen.providers] == [gw.rows.provider]
    everything = await gw.stub.GetProviderStatus(pb.GetProviderStatusRequest(), metadata=gw.auth)
    assert {p.name for p in everything.providers} == {gw.rows.provider, "hidden-provider"}
