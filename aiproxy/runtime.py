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

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is pinned, but stay runnable without it
    uvloop = None
from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

from completions_app.grpc.server import grpc_server_create
from completions_app.services.budget_alerts import alerts_drain
from completions_app.services.catalog import catalog_get
from completions_app.services.gateway_state import gateway_state_close
from completions_app.services.recorder import records_flush
from providers_app.probe_schedule import probe_loop

from .acceptor import Acceptor
from .asgi import InFlight
from .http_guard import GuardedHttpToolsProtocol

log = logging.getLogger("aiproxy.serve")


class _Server(uvicorn.Server):
    """uvicorn's Server with our accept loop (aiproxy/acceptor.py) in place of `loop.create_server`;
    uvicorn has no setting for that. At 512 in flight on a 200 ms upstream (docs/benchmarks.md,
    "Steps 3–8" and the runs after) p99 was 6–13× p50 without it (729 / 9,757 ms, 1,067 / 6,782 ms:
    uvloop's server left new connections in the listen queue, draining ~7 per second) and
    1.7–2.0× with it (411 / 696 ms, 399 / 782 ms).

    Only `startup` is replaced, doing what uvicorn 0.54's does for given sockets: the protocol
    factory from `config`, `server_state` and `lifespan.state`; `servers` (closed and awaited by
    uvicorn's shutdown) and `started`. Signals stay uvicorn's (`serve` below): the loop's signal
    handlers `serve` adds before it still fire (the loop's wakeup fd), and uvicorn restores them
    and re-raises the signal to them when it returns, so the process lives on to drain gRPC and
    flush the records.
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        assert sockets  # noqa: S101 - serve() passes its bound socket
        await self.lifespan.startup()
        config, state, app_state = self.config, self.server_state, self.lifespan.state
        loop = asyncio.get_running_loop()

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(config=config, server_state=state, app_state=app_state, _loop=_loop)  # type: ignore[call-arg]

        high_water = settings.ACCEPT_HIGH_WATER

        def busy() -> bool:
            return 0 < high_water <= InFlight.count

        connections = state.connections

        def open_connections() -> int:
            return len(connections)

        cap = settings.MAX_CONNECTIONS
        self.servers = [  # type: ignore[list-item]
            Acceptor(loop, sock, create_protocol, busy=busy, open_connections=open_connections, max_connections=cap)
            for sock in sockets
        ]
        self.started = True


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
    """The gateway's metrics and django-prometheus's (one registry); with --workers, every worker's."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=host, registry=registry)


def http_config(grace_s: float) -> uvicorn.Config:
    return uvicorn.Config(
        "aiproxy.asgi:application",
        loop="none",
        lifespan="off",
        http=GuardedHttpToolsProtocol.configured(
            max_header_bytes=settings.MAX_HEADER_BYTES,
            header_timeout_s=settings.HEADER_TIMEOUT_S,
            body_timeout_s=settings.BODY_TIMEOUT_S,
        ),
        timeout_keep_alive=settings.KEEPALIVE_TIMEOUT_S,  # type: ignore[arg-type]  # a float works
        # No WebSocket routes: with "auto" uvicorn would import wsproto (and h11) at start
        # only to hand upgrade requests to Django, which refuses them.
        ws="none",
        access_log=os.environ.get("ACCESS_LOG", "0") == "1",
        timeout_graceful_shutdown=int(grace_s),
        log_level="warning",
        server_header=False,
        backlog=2048,
    )


WORKER_INDEX_ENV = "AIPROXY_WORKER_INDEX"


def probe_scheduler_wanted(environ: dict[str, str] | os._Environ[str], interval_s: float) -> bool:
    """Scheduled probes run in one process of a serve: the only one, or worker 0 of --workers N."""
    return interval_s > 0 and environ.get(WORKER_INDEX_ENV, "0") == "0"


def worker_envs(workers: int, base: dict[str, str]) -> list[dict[str, str]]:
    """Each child's environment: the common one plus its index (probes run in worker 0 only)."""
    return [{**base, WORKER_INDEX_ENV: str(i)} for i in range(workers)]


async def serve(*, host: str, http_port: int, grpc_port: int, grace_s: float, reuse_port: bool = False) -> int:
    http = _Server(http_config(grace_s))
    grpc_server, bound = grpc_server_create(port=grpc_port, host=host)
    await grpc_server.start()
    sock = _http_socket(host, http_port, reuse_port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    with contextlib.suppress(Exception):
        await catalog_get()  # warm: the first request should not pay for it
    http_task = asyncio.create_task(http.serve(sockets=[sock]))
    log.warning("serving HTTP on %s:%d, gRPC on %s:%d (pid %d)", host, http_port, host, bound, os.getpid())
    probes_task = None
    if probe_scheduler_wanted(os.environ, settings.PROBE_INTERVAL_S):
        probes_task = asyncio.create_task(probe_loop(interval_s=settings.PROBE_INTERVAL_S, stop=stop))
        log.info("provider probes every %gs in this process (pid %d)", settings.PROBE_INTERVAL_S, os.getpid())

    await asyncio.wait([http_task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    log.warning("shutting down: draining for up to %.0fs", grace_s)
    http.should_exit = True
    if probes_task is not None:
        # A probe under way is in a daemon thread: not waited for, its results are not needed.
        probes_task.cancel()
    await asyncio.gather(http_task, grpc_server.stop(grace_s), return_exceptions=True)
    # Settles and budget alerts still running use the state: let them end first (bounded).
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(alerts_drain(), timeout=min(grace_s, 10))
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
    children = [subprocess.Popen([sys.executable, *argv], env=e) for e in worker_envs(workers, env)]  # noqa: S603
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
    runner = uvloop.run if uvloop is not None else asyncio.run
    return runner(
        serve(
            host=host,
            http_port=settings.HTTP_PORT,
            grpc_port=settings.GRPC_PORT,
            grace_s=settings.SHUTDOWN_GRACE_S,
            reuse_port=child,
        )
    )
