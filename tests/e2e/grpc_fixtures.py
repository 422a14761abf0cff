"""Fixtures for the gRPC end-to-end tests: the real grpc.aio server on an ephemeral
port in the test's event loop, the real completion service and database, and the
in-process fake upstream (tests/fakes) behind an OpenAI-kind provider.

Imported by tests/e2e/test_grpc.py (kept out of conftest.py, which other e2e suites own).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import grpc
import pytest

from aiproxy.v1 import proxy_pb2_grpc
from completions_app.grpc.server import grpc_server_create
from completions_app.services.client_keys import client_key_create
from completions_app.services.recorder import records_flush
from tests.fakes.server import FakeUpstream

MODEL = "grpc-test-model"
INPUT_PER_MTOK = Decimal("3.00")
OUTPUT_PER_MTOK = Decimal("15.00")


@dataclass
class GatewayRows:
    provider: str
    model: str
    key: str  # the client key's plaintext


@dataclass
class GrpcGateway:
    channel: grpc.aio.Channel
    stub: proxy_pb2_grpc.AIProxyServiceStub
    fake: FakeUpstream
    rows: GatewayRows
    port: int

    @property
    def auth(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.rows.key}"),)


def _invalidate_caches() -> None:
    # The service keeps in-process snapshots of the catalog and of client keys.
    from completions_app.services import auth, catalog

    catalog.catalog_invalidate()
    auth.auth_cache_clear()


@pytest.fixture
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def gateway_rows(transactional_db: None, fake_upstream: FakeUpstream) -> GatewayRows:
    """Provider → fake upstream, one key, one priced model, one client key.

    The provider name is unique per test: breaker state is kept per provider name
    in-process, and must not carry over from another test.
    """
    from providers_app.models import Model, Provider, ProviderKey

    provider = Provider.objects.create(
        name=f"fake-openai-{uuid.uuid4().hex[:8]}",
        kind=Provider.Kind.OPENAI,
        base_url=fake_upstream.openai_base_url,
        timeout_s=30,
    )
    key = ProviderKey(provider=provider, label="k1")
    key.set_secret("sk-fake-0123456789")
    key.save()
    Model.objects.create(
        name=MODEL,
        provider=provider,
        upstream_model="fake-small",
        input_per_mtok=INPUT_PER_MTOK,
        output_per_mtok=OUTPUT_PER_MTOK,
    )
    _, plaintext = client_key_create(name=f"grpc-e2e-{uuid.uuid4().hex[:8]}", model_names=[])
    _invalidate_caches()
    return GatewayRows(provider=provider.name, model=MODEL, key=plaintext)


@pytest.fixture
async def grpc_gateway(gateway_rows: GatewayRows, fake_upstream: FakeUpstream) -> AsyncIterator[GrpcGateway]:
    server, port = grpc_server_create(port=0, host="127.0.0.1")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield GrpcGateway(
            channel=channel,
            stub=proxy_pb2_grpc.AIProxyServiceStub(channel),
            fake=fake_upstream,
            rows=gateway_rows,
            port=port,
        )
    finally:
        await channel.close()
        await server.stop(grace=None)
        # Audit records are written by a writer thread: let it finish before the
        # transactional_db teardown empties the tables under it.
        await asyncio.to_thread(records_flush, 10.0)
        _invalidate_caches()
