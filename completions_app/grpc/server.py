"""Builds the gRPC server: our service, the standard health service and reflection.

    server, port = grpc_server_create(port=settings.GRPC_PORT)
    await server.start()
    ...
    await server.stop(grace)

It runs on the caller's event loop (beside uvicorn in `manage.py serve`).
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aiproxy.v1 import proxy_pb2, proxy_pb2_grpc

from .interceptor import DjangoContextInterceptor
from .servicer import AIProxyServicer

SERVICE_NAME = proxy_pb2.DESCRIPTOR.services_by_name["AIProxyService"].full_name  # "aiproxy.v1.AIProxyService"

# Completions are small; this bounds memory per call like the REST body limit does.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def grpc_server_create(*, port: int, host: str = "0.0.0.0") -> tuple[grpc.aio.Server, int]:  # noqa: S104
    """A grpc.aio server with everything registered and bound; port 0 = an ephemeral port.

    Returns the server (not started: the caller awaits `server.start()`) and the bound port.
    Must be called with the event loop that will run it current (grpc.aio binds to it).
    """
    server = grpc.aio.server(
        interceptors=[DjangoContextInterceptor()],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    proxy_pb2_grpc.add_AIProxyServiceServicer_to_server(AIProxyServicer(), server)

    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    # The servicer starts empty; set() is a coroutine only in the aio flavour, and the
    # statuses must be there before the first Check, so they are set synchronously here.
    for name in ("", SERVICE_NAME):
        health_servicer._server_status[name] = health_pb2.HealthCheckResponse.SERVING

    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME),
        server,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"could not bind the gRPC server to {host}:{port}")
    return server, bound
