"""The gRPC interface end to end: real grpc.aio server, generated client stubs, the
real completion service and database, and a fake OpenAI upstream on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

import grpc
import pytest
from asgiref.sync import sync_to_async
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from aiproxy.v1 import proxy_pb2 as pb
from tests.fakes.behaviour import Behaviour

from .grpc_fixtures import INPUT_PER_MTOK, OUTPUT_PER_MTOK, GrpcGateway, fake_upstream, gateway_rows, grpc_gateway

__all__ = ["fake_upstream", "gateway_rows", "grpc_gateway"]  # fixtures, used by name

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE = "aiproxy.v1.AIProxyService"


def expected_cost(input_tokens: int, output_tokens: int) -> Decimal:
    return (input_tokens * INPUT_PER_MTOK + output_tokens * OUTPUT_PER_MTOK) / Decimal(1_000_000)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def rpc_error(awaitable: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await awaitable  # type: ignore[misc]
    return info.value


# --- Complete ----------------------------------------------------------------------------
async def test_complete_returns_text_usage_and_exact_cost(grpc_gateway: GrpcGateway) -> None:
    gw = grpc_gateway
    call = gw.stub.Complete(
        pb.CompleteRequest(model=gw.rows.model, prompt="hello there gateway"),
        metadata=(*gw.auth, ("x-request-id", "grpc-e2e-1")),
    )
    response = await call

    assert response.text == "hello there gateway"  # the fake echoes the last user message
    assert response.model == gw.rows.model
    assert response.served_model == gw.rows.model
    assert response.provider == gw.rows.provider
    assert response.usage.input_tokens == 3
    assert response.usage.output_tokens == 3
    assert Decimal(response.cost_usd) == expected_cost(3, 3)
    assert "E" not in response.cost_usd  # fixed-point text, not scientific notation
    assert response.cached is False
    assert response.finish_reason == "stop"
    assert response.latency_ms > 0
    assert response.request_id == "grpc-e2e-1"
    assert ("x-request-id", "grpc-e2e-1") in tuple(await call.initial_metadata())


async def test_complete_passes_optional_fields_as_set(grpc_gateway: GrpcGateway) -> None:
    gw = grpc_gateway
    request = pb.CompleteRequest(
        model=gw.rows.model,
        messages=[pb.Message(role="system", content="be brief"), pb.Message(role="user", content="a b c STOP d")],
        max_tokens=50,
        temperature=0.0,  # set to zero: must reach the upstream, not read as "unset"
        stop=["STOP"],
        cache=False,
    )
    response = await gw.stub.Complete(request, metadata=gw.auth)

    assert response.text == "a b c"
    body = gw.fake.requests[-1].json
    assert body["temperature"] == 0
    assert body["max_tokens"] == 50
    assert "top_p" not in body  # unset stays unset
    assert body["stop"] == ["STOP"]


async def test_complete_writes_an_audit_record_for_the_grpc_interface(grpc_gateway: GrpcGateway) -> None:
    from completions_app.models import CompletionRecord
    from completions_app.services.recorder import records_flush

    gw = grpc_gateway
    await gw.stub.Complete(
        pb.CompleteRequest(model=gw.rows.model, prompt="audit me"),
        metadata=(*gw.auth, ("x-request-id", "grpc-audit-1")),
    )
    assert await asyncio.to_thread(records_flush, 10.0)
    record = await CompletionRecord.objects.aget(request_id="grpc-audit-1")
    assert record.interface == "grpc"
    assert record.status == "ok"
    assert record.provider == gw.rows.provider


# --- StreamComplete ------------------------------------------------------------------------
async def test_stream_complete_sends_deltas_then_one_final_message(grpc_gateway: GrpcGateway) -> None:
    gw = grpc_gateway
    gw.fake.script(Behaviour.ok(chunks=3))
    messages = [
        m
        async for m in gw.stub.StreamComplete(
            pb.CompleteRequest(model=gw.rows.model, prompt="one two three four five six"), metadata=gw.auth
        )
    ]

    *deltas, final = messages
    assert len(deltas) == 3
    assert all(m.delta and not m.done for m in deltas)
    assert "".join(m.delta for m in deltas) == "one two three four five six"
    assert final.done
    assert final.delta == ""
    assert final.usage.input_tokens == 6
    assert final.usage.output_tokens == 6
    assert Decimal(final.cost_usd) == expected_cost(6, 6)
    assert final.finish_reason == "stop"
    assert final.provider == gw.rows.provider
    assert final.model == final.served_model == gw.rows.model
    assert final.request_id


async def test_stream_error_mid_stream_ends_with_an_error_status(grpc_gateway: GrpcGateway) -> None:
    gw = grpc_gateway
    # OpenAI frames: role, delta, delta, ...: the error comes after the first delta.
    gw.fake.script(Behaviour.stream_error(after_frames=2, chunks=4))
    call = gw.stub.StreamComplete(
        pb.CompleteRequest(model=gw.rows.model, prompt="one two three four"), metadata=gw.auth
    )
    received: list[pb.StreamCompleteResponse] = []

    async def drain() -> None:
        async for message in call:
            received.append(message)

    error = await rpc_error(drain())

    assert [m.delta for m in received] == ["one"]
    assert error.code() == grpc.StatusCode.UNAVAILABLE  # an upstream fault
    assert not any(m.done for m in received)  # never a silent, complete-looking end


async def test_cancelled_stream_cancels_the_upstream_request(grpc_gateway: GrpcGateway) -> None:
    gw = grpc_gateway
    gw.fake.script(Behaviour.ok(chunks=8, chunk_delay_s=0.3))
    call = gw.stub.StreamComplete(
        pb.CompleteRequest(model=gw.rows.model, prompt="w1 w2 w3 w4 w5 w6 w7 w8"), metadata=gw.auth
    )
    first = await call.read()
    assert first.delta
    assert not first.done

    call.cancel()

    await wait_until(lambda: gw.fake.stats["disconnects"] == 1)
    assert gw.fake.stats["streams_completed"] == 0


# --- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param((), id="no-key"),
        pytest.param((("authorization", "Bearer aip_not-a-real-key"),), id="bad-bearer"),
        pytest.param((("x-api-key", "aip_not-a-real-key"),), id="bad-x-api-key"),
    ],
)
async def test_complete_without_a_valid_key_is_unauthenticated(
    grpc_gateway: GrpcGateway, metadata: tuple[tuple[str, str], ...]
) -> None:
    gw = grpc_gateway
    error = await rpc_error(gw.stub.Complete(pb.CompleteRequest(model=gw.rows.model, prompt="hi"), metadata=metadata))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert gw.fake.requests == []  # never reached the upstream


@pytest.mark.parametrize("header", ["x-api-key", "authorization"])
async def test_key_accepted_in_x_api_key_or_bare_in_authorization(grpc_gateway: GrpcGateway, header: str) -> None:
    gw = grpc_gateway
    response = await gw.stub.Complete(
        pb.CompleteRequest(model=gw.rows.model, prompt="hi"), metadata=((header, gw.rows.key),)
    )
    assert response.text == "hi"


async def test_provider_status_needs_a_key(grpc_gateway: GrpcGateway) -> None:
    error = await rpc_error(grpc_gateway.stub.GetProviderStatus(pb.GetProviderStatusRequest()))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_unknown_model_is_not_found(grpc_gateway: GrpcGateway) -> None:
    gw = grpc_gateway
    error = await rpc_error(gw.stub.Complete(pb.CompleteRequest(model="no-such-model", prompt="hi"), metadata=gw.auth))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert ("x-error-type", "not_found_error") in tuple(error.trailing_metadata())


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(pb.CompleteRequest(), id="empty"),
        pytest.param(pb.CompleteRequest(model="grpc-test-model"), id="no-prompt-or-messages"),
        pytest.param(
            pb.CompleteRequest(model="grpc-test-model", prompt="hi", messages=[pb.Message(role="user", content="x")]),
            id="both",
        ),
        pytest.param(
            pb.CompleteRequest(model="grpc-test-model", messages=[pb.Message(role="wizard", content="x")]),
            id="unknown-role",
        ),
        pytest.param(pb.CompleteRequest(model="grpc-test-model", prompt="hi", temperature=7), id="bad-temperature"),
    ],
)
async def test_invalid_requests_are_invalid_argument(grpc_gateway: GrpcGateway, request_: pb.CompleteRequest) -> None:
    gw = grpc_gateway
    for rpc in (gw.stub.Complete, gw.stub.StreamComplete):
        call = rpc(request_, metadata=gw.auth)
        error = await rpc_error(call if rpc is gw.stub.Complete else call.read())
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert gw.fake.requests == []


async def test_a_request_refused_after_auth_is_recorded_one_without_a_key_only_counted(
    grpc_gateway: GrpcGateway,
) -> None:
    from prometheus_client import REGISTRY

    from completions_app.models import CompletionRecord
    from completions_app.services.recorder import records_flush

    gw = grpc_gateway
    request = pb.CompleteRequest(model="as-given-model", messages=[pb.Message(role="wizard", content="x")])
    error = await rpc_error(gw.stub.Complete(request, metadata=(*gw.auth, ("x-request-id", "grpc-refused-1"))))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT

    def unauthenticated() -> float:
        return REGISTRY.get_sample_value("ai_proxy_unauthenticated_total", {"interface": "grpc"}) or 0.0

    before = unauthenticated()
    error = await rpc_error(gw.stub.Complete(request, metadata=(("x-request-id", "grpc-refused-2"),)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert unauthenticated() == before + 1

    assert await asyncio.to_thread(records_flush, 10.0)
    [record] = [r async for r in CompletionRecord.objects.filter(request_id__startswith="grpc-refused")]
    assert (record.request_id, record.interface, record.model) == ("grpc-refused-1", "grpc", "as-given-model")
    assert (record.status, record.error_type, record.http_status, record.cost_usd) == (
        "error",
        "invalid_request_error",
        400,
        Decimal(0),
    )


async def test_client_deadline_shorter_than_a_slow_upstream_is_deadline_exceeded(grpc_gateway: GrpcGateway) -> None:
    from completions_app.models import CompletionRecord
    from completions_app.services.recorder import records_flush

    gw = grpc_gateway
    gw.fake.script(Behaviour.hang(10))
    started = time.monotonic()
    error = await rpc_error(
        gw.stub.Complete(
            pb.CompleteRequest(model=gw.rows.model, prompt="slow"),
            metadata=(*gw.auth, ("x-request-id", "grpc-deadline-1")),
            timeout=0.5,
        )
    )
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 3

    # The service call ended too (its record is written when it ends), rather than
    # waiting out the provider's own 30 s timeout.
    async def recorded() -> bool:
        await asyncio.to_thread(records_flush, 1.0)
        return await CompletionRecord.objects.filter(request_id="grpc-deadline-1").aexists()

    deadline = time.monotonic() + 5
    while not await recorded():
        assert time.monotonic() < deadline, "the service call outlived the client's deadline"
        await asyncio.sleep(0.05)
    record = await CompletionRecord.objects.aget(request_id="grpc-deadline-1")
    assert record.status == "error"
    # Who was being asked when the deadline ended the call stays on the record.
    assert record.provider == gw.rows.provider
    assert [(a["model"], a["provider"], a["outcome"]) for a in record.attempts] == [
        (gw.rows.model, gw.rows.provider, "cancelled")
    ]


async def test_request_id_is_made_up_when_absent_and_sent_back(grpc_gateway: GrpcGateway) -> None:
    gw = grpc_gateway
    call = gw.stub.Complete(pb.CompleteRequest(model=gw.rows.model, prompt="hi"), metadata=gw.auth)
    response = await call
    sent = dict(await call.initial_metadata())["x-request-id"]
    assert sent
    assert response.request_id == sent


async def test_each_rpc_gets_its_own_thread_for_sync_work(
    grpc_gateway: GrpcGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interceptor's ThreadSensitiveContext: without it every RPC's thread-sensitive
    sync_to_async call (the ORM) queues on one shared thread."""
    from completions_app.services import status

    async def slow_health() -> dict:
        await sync_to_async(time.sleep)(0.3)  # thread_sensitive=True, like the ORM
        return {"status": "ok", "database": True, "cache": True}

    monkeypatch.setattr(status, "health_check", slow_health)
    started = time.monotonic()
    await asyncio.gather(*(grpc_gateway.stub.HealthCheck(pb.HealthCheckRequest()) for _ in range(5)))
    assert time.monotonic() - started < 1.2  # serialized, it would take 1.5 s


# --- HealthCheck, GetProviderStatus, standard services ------------------------------------------
async def test_health_check_rpc_needs_no_key(grpc_gateway: GrpcGateway) -> None:
    response = await grpc_gateway.stub.HealthCheck(pb.HealthCheckRequest())
    assert response.status == "ok"
    assert response.database is True
    assert response.cache is True


async def test_get_provider_status_lists_breaker_state(grpc_gateway: GrpcGateway) -> None:
    gw = grpc_gateway
    response = await gw.stub.GetProviderStatus(pb.GetProviderStatusRequest(), metadata=gw.auth)
    ours = {p.name: p for p in response.providers}[gw.rows.provider]
    assert ours.kind == "openai"
    assert ours.state == "closed"
    assert ours.failures == 0
    assert ours.enabled is True
    assert ours.keys_enabled == 1
    assert ours.keys_cooling == 0
    assert not ours.HasField("healthy")  # never probed


@pytest.mark.parametrize("service", ["", SERVICE])
async def test_standard_health_service_is_serving(grpc_gateway: GrpcGateway, service: str) -> None:
    stub = health_pb2_grpc.HealthStub(grpc_gateway.channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_service(grpc_gateway: GrpcGateway) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(grpc_gateway.channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    response = await call.read()
    await call.done_writing()
    names = {s.name for s in response.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names

    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE))
    response = await call.read()
    await call.done_writing()
    assert response.file_descriptor_response.file_descriptor_proto  # grpcurl can describe it
