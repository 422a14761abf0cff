"""aiproxy.v1.AIProxyService: parse the request (grpc_input), call the completion service,
render (grpc_render).

Nothing about caching, routing, cost or records lives here (docs/architecture.md); errors are
mapped to statuses in errors.py. Every handler runs inside the interceptor's scope.
"""

from __future__ import annotations

from contextlib import aclosing

import grpc

from aiproxy.v1 import proxy_pb2 as pb
from aiproxy.v1 import proxy_pb2_grpc
from completions_app.services import auth, completion
from completions_app.services import status as status_service
from completions_app.services.client_address import grpc_peer_host
from completions_app.services.embedding import embedding_create
from completions_app.services.types import (
    CallContext,
    ClientIdentity,
    CompletionInput,
    StreamDelta,
    StreamEnd,
    StreamStart,
)
from providers_app.errors import AuthenticationFailed, GatewayError

from .errors import client_deadline, rpc_abort
from .grpc_embed import embed_field_named, embed_response, embedding_input_from
from .grpc_input import completion_input_from, proto_field_named
from .grpc_render import complete_response, limit_metadata, provider_status_pb, stream_delta, stream_final
from .interceptor import current_request_id

INTERFACE = "grpc"


# --- parsing ------------------------------------------------------------------------
def presented_key(context: grpc.aio.ServicerContext) -> str | None:
    """The client key from `authorization` ("Bearer <key>" or the bare key) or `x-api-key`."""
    metadata = {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}
    authorization = metadata.get("authorization", "").strip()
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" else authorization
    return metadata.get("x-api-key", "").strip() or None


def client_address(context: grpc.aio.ServicerContext) -> str:
    """The client's address for the failed-auth limit: the peer, or the `x-forwarded-for`
    metadata when the peer is one of TRUSTED_PROXIES (as on REST)."""
    forwarded = next((v for k, v in context.invocation_metadata() or () if k == "x-forwarded-for"), None)
    return auth.client_address_of(grpc_peer_host(context.peer()), forwarded if isinstance(forwarded, str) else None)


async def authenticate(context: grpc.aio.ServicerContext) -> ClientIdentity:
    key = presented_key(context)
    if not key:
        raise AuthenticationFailed("Missing client key: send 'authorization: Bearer <key>' metadata.")
    return await auth.client_authenticate(key, client_address(context))


def call_context(client: ClientIdentity, deadline_s: float | None) -> CallContext:
    return CallContext(request_id=current_request_id(), client=client, interface=INTERFACE, deadline_s=deadline_s)


async def accepted(
    request: pb.CompleteRequest, context: grpc.aio.ServicerContext
) -> tuple[ClientIdentity, CompletionInput]:
    """The client and the input. A request refused without a valid key is counted; one
    refused after it (a proto-level check) is recorded, as every authenticated request is."""
    try:
        client = await authenticate(context)
    except Exception:
        completion.completion_unauthenticated(INTERFACE)
        raise
    try:
        return client, completion_input_from(request)
    except Exception as exc:
        completion.completion_refused(request.model, call_context(client, None), exc)
        raise


# --- the service --------------------------------------------------------------------
class AIProxyServicer(proxy_pb2_grpc.AIProxyServiceServicer):
    async def Complete(self, request: pb.CompleteRequest, context: grpc.aio.ServicerContext) -> pb.CompleteResponse:
        try:
            client, inp = await accepted(request, context)
            async with client_deadline(context) as remaining:
                result = await completion.completion_create(inp, call_context(client, remaining))
            if result.limit_headers:  # a limited key's x-ratelimit-*
                context.set_trailing_metadata(limit_metadata(result.limit_headers))
            return complete_response(result)
        except Exception as exc:
            await rpc_abort(context, proto_field_named(exc), rpc="Complete")

    async def StreamComplete(self, request: pb.CompleteRequest, context: grpc.aio.ServicerContext) -> None:
        # Written with context.write() rather than as an async generator, so that when the
        # client cancels, the CancelledError lands in this frame and the `finally` closes
        # the service's stream (and with it the upstream request) right away.
        try:
            client, inp = await accepted(request, context)
            async with client_deadline(context) as remaining:
                events = completion.completion_stream(inp, call_context(client, remaining))
                done = False
                async with aclosing(events):
                    async for event in events:
                        if isinstance(event, StreamDelta):
                            message = stream_delta(event)
                            if message is not None:
                                await context.write(message)
                        elif isinstance(event, StreamEnd):
                            await context.write(stream_final(event.result))
                            done = True
                        elif isinstance(event, StreamStart) and event.limit_headers:
                            context.set_trailing_metadata(limit_metadata(event.limit_headers))
                if not done:
                    # The contract: a stream without its final message is an error, never a silent end.
                    raise GatewayError("The completion stream ended without its final message.")
        except Exception as exc:
            await rpc_abort(context, proto_field_named(exc), rpc="StreamComplete")

    async def Embed(self, request: pb.EmbedRequest, context: grpc.aio.ServicerContext) -> pb.EmbedResponse:
        try:
            client = await authenticate(context)
        except Exception as exc:
            completion.completion_unauthenticated(INTERFACE)
            await rpc_abort(context, exc, rpc="Embed")
        try:
            try:
                inp = embedding_input_from(request)
            except Exception as exc:
                completion.completion_refused(request.model, call_context(client, None), exc)
                raise
            async with client_deadline(context) as remaining:
                result = await embedding_create(inp, call_context(client, remaining))
            if result.limit_headers:  # a limited key's x-ratelimit-*
                context.set_trailing_metadata(limit_metadata(result.limit_headers))
            return embed_response(result)
        except Exception as exc:
            await rpc_abort(context, embed_field_named(exc), rpc="Embed")

    async def HealthCheck(
        self, request: pb.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> pb.HealthCheckResponse:
        # No auth, like GET /v1/health: load balancers probe it.
        try:
            health = await status_service.health_check()
            return pb.HealthCheckResponse(
                status=health["status"], database=bool(health["database"]), cache=bool(health["cache"])
            )
        except Exception as exc:
            await rpc_abort(context, exc, rpc="HealthCheck")

    async def GetProviderStatus(
        self, request: pb.GetProviderStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProviderStatusResponse:
        try:
            client = await authenticate(context)
            rows = await status_service.provider_status_list(client)
            return pb.GetProviderStatusResponse(providers=[provider_status_pb(row) for row in rows])
        except Exception as exc:
            await rpc_abort(context, exc, rpc="GetProviderStatus")
