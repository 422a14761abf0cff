"""The `serve` runtime: HTTP (uvicorn, ASGI Django), gRPC (grpc.aio) and the
Prometheus exporter in one process, on one event loop.

SIGTERM/SIGINT: stop accepting, let in-flight requests and streams finish
within SHUTDOWN_GRACE_S, close upstream clients, flush the audit records,
exit 0. With --workers N a supervisor runs N such processes on the same ports
(SO_REUSEPORT; the kernel spreads connections) and one metrics exporter that
aggregates them (prometheus_client multiprocess mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import uvicorn
from django.conf import settings

from .acceptor import Acceptor

log = logging.getLogger("aiproxy.serve")


class _Server(uvicorn.Server):
    # uvicorn re-raises captured signals after serve() returns, which would
    # kill the process before gRPC has drained and records are flushed: we
    # handle signals ourselves.
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def, override]
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup for the sockets `serve` binds (always given), with our Acceptor in
        place of loop.create_server (aiproxy/acceptor.py: uvloop's accepts starve under load)."""
        assert sockets  # noqa: S101 - serve() passes its bound socket
        await self.lifespan.startup()
        config, state = self.config, self.server_state
        loop = asyncio.get_running_loop()

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=state, app_state=self.lifespan.state, _loop=_loop
            )

        from aiproxy.asgi import InFlight  # loaded by config.load() already

        high_water = settings.ACCEPT_HIGH_WATER

        def busy() -> bool:
            return 0 < high_water <= InFlight.count

        self.servers = [Acceptor(loop, sock, create_protocol, busy=busy) for sock in sockets]  # type: ignore[list-item]
        self.started = True
        return


def _http_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def metrics_exporter_start(port: int, host: str) -> None:
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=host, registry=registry)


def http_config(grace_s: float) -> uvicorn.Config:
    return uvicorn.Config(
        "aiproxy.asgi:application",
        loop="none",
        lifespan="off",
        http="httptools",
        # No WebSocket routes: with "auto" uvicorn would import wsproto (and h11) at start
        # only to hand upgrade requests to Django, which refuses them.
        ws="none",
        access_log=os.environ.get("ACCESS_LOG", "0") == "1",
        timeout_graceful_shutdown=int(grace_s),
        log_level="warning",
        server_header=False,
        backlog=2048,
    )


async def serve(*, host: str, http_port: int, grpc_port: int, grace_s: float, reuse_port: bool = False) -> int:
    from completions_app.grpc.server import grpc_server_create
    from completions_app.services.catalog import catalog_get
    from completions_app.services.gateway_state import gateway_state_close
    from completions_app.services.recorder import records_flush
    from providers_app.adapters import capture
    from providers_app.adapters.registry import adapters_warm

    http = _Server(http_config(grace_s))
    grpc_server, bound = grpc_server_create(port=grpc_port, host=host)
    await grpc_server.start()
    sock = _http_socket(host, http_port, reuse_port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    capture.use_helper_process()  # the SDKs build requests in a helper: never loaded here
    warm_task = None
    with contextlib.suppress(Exception):
        catalog = await catalog_get()  # warm: the first request should not pay for it
        providers = [(p.kind, p.base_url or None, p.timeout_s) for p in catalog.providers.values()]
        warm_task = asyncio.create_task(adapters_warm(providers))  # beside serving, not before it
    http_task = asyncio.create_task(http.serve(sockets=[sock]))
    log.warning("serving HTTP on %s:%d, gRPC on %s:%d (pid %d)", host, http_port, host, bound, os.getpid())

    await asyncio.wait([http_task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    log.warning("shutting down: draining for up to %.0fs", grace_s)
    http.should_exit = True
    if warm_task is not None:
        warm_task.cancel()
    await asyncio.gather(http_task, grpc_server.stop(grace_s), return_exceptions=True)
    await gateway_state_close()  # upstream clients, breaker writes, Redis
    flushed = await asyncio.to_thread(records_flush, grace_s)
    if not flushed:
        log.error("audit records still queued after %.0fs", grace_s)
    log.warning("stopped")
    return 0 if flushed else 1


def supervise(*, workers: int, argv: list[str], host: str, metrics_port: int) -> int:
    """Run `workers` child processes of `serve`, one exporter, forward signals."""
    mp_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="aiproxy-metrics-")
    shutil.rmtree(mp_dir, ignore_errors=True)
    os.makedirs(mp_dir, exist_ok=True)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": mp_dir, "AIPROXY_WORKER_CHILD": "1"}
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = mp_dir
    metrics_exporter_start(metrics_port, host)
    children = [subprocess.Popen([sys.executable, *argv], env=env) for _ in range(workers)]  # noqa: S603
    stopping = False

    def _forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    code = 0
    while any(c.poll() is None for c in children):
        time.sleep(0.2)
        if not stopping and any(c.poll() is not None for c in children):
            log.error("a worker exited; stopping the others")
            code = 1
            _forward(signal.SIGTERM, None)
    from prometheus_client import multiprocess

    for child in children:
        multiprocess.mark_process_dead(child.pid)
        code = code or (child.returncode or 0)
    return code


def serve_main(*, workers: int) -> int:
    host = settings.BIND_HOST
    if workers > 1 and not os.environ.get("AIPROXY_WORKER_CHILD"):
        return supervise(workers=workers, argv=[sys.argv[0], "serve"], host=host, metrics_port=settings.METRICS_PORT)
    child = bool(os.environ.get("AIPROXY_WORKER_CHILD"))
    if not child:
        metrics_exporter_start(settings.METRICS_PORT, host)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is pinned, but stay runnable without it
        runner = asyncio.run
    return runner(
        serve(
            host=host,
            http_port=settings.HTTP_PORT,
            grpc_port=settings.GRPC_PORT,
            grace_s=settings.SHUTDOWN_GRACE_S,
            reuse_port=child,
        )
    )
