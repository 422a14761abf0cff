"""Accepting connections on a busy event loop.

uvloop's own server (libuv's listen callback) accepts new connections slowly while the
loop is saturated: measured here, a listen queue of 272 connections drained at ~7 per
second at 512 in flight, so the first request of a new connection waited up to the whole
benchmark window (docs/benchmarks.md, steps 3–7 and the runs after, wrk at 512 in flight on
a 200 ms upstream: p99 6–13× p50 without this acceptor, 1.7–2.0× with it, and its listen
queue 0 at every sample). An Acceptor watches the listening
socket with add_reader and accepts every pending connection each time it is readable,
handing each to the loop as uvicorn's protocol would get it (aiproxy/runtime.py plugs it
into uvicorn's Server, which has no setting for its accept loop).

Past a high-water mark of requests in flight (`busy()`, ACCEPT_HIGH_WATER) it stops
accepting and looks again every ACCEPT_RECHECK_S: new connections then wait in the
kernel's listen queue instead of in this process's memory, and the requests already
admitted keep their pace. Connections already open are not affected.

Past MAX_CONNECTIONS open connections (`max_connections`, counted by `open_connections()`
plus those being set up) a new connection is answered 503 and closed at once: slow or idle
clients holding connections cannot grow the process without bound, the client (or a load
balancer) learns at once to go elsewhere, and the connections already open keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)

MAX_PER_WAKEUP = 1024  # accepts per readable event: a flood cannot hold the loop for long
EMFILE_PAUSE_S = 0.1  # out of file descriptors: stop accepting briefly instead of spinning
ACCEPT_RECHECK_S = 0.05  # while busy: how often to look whether accepting may resume
CONNECTION_CAP_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 20\r\nretry-after: 1\r\nconnection: close\r\n\r\nToo many connections"
)


class Acceptor:
    """A stand-in for the asyncio.Server uvicorn would create: close() and wait_closed()."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        *,
        busy: Callable[[], bool] | None = None,
        open_connections: Callable[[], int] | None = None,
        max_connections: int = 0,
    ) -> None:
        self._loop, self._sock, self._factory, self._busy = loop, sock, protocol_factory, busy
        self._open, self._max = open_connections, max_connections
        self.refused = 0  # connections closed at once past max_connections
        self._opening: set[asyncio.Task] = set()
        self._closed = False
        self.paused = False
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept_pending)

    def _accept_pending(self) -> None:
        if self._busy is not None and self._busy():
            self._pause(ACCEPT_RECHECK_S)
            return
        for _ in range(MAX_PER_WAKEUP):
            try:
                conn, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE / ENFILE / ENOBUFS: the level-triggered reader would spin
                log.error("accept failed (%s); pausing accepts for %.1fs", exc.strerror, EMFILE_PAUSE_S)
                self._pause(EMFILE_PAUSE_S)
                return
            if self._max > 0 and self._open is not None and len(self._opening) + self._open() >= self._max:
                self._refuse(conn)
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the loop's own server does
            task = self._loop.create_task(self._loop.connect_accepted_socket(self._factory, conn))
            self._opening.add(task)
            task.add_done_callback(self._opened)

    def _refuse(self, conn: socket.socket) -> None:
        self.refused += 1
        if self.refused & (self.refused - 1) == 0:  # log the 1st, 2nd, 4th, 8th...: a flood stays quiet
            log.warning("%d connections refused so far: MAX_CONNECTIONS (%d) open", self.refused, self._max)
        with contextlib.suppress(OSError):
            conn.setblocking(False)
            conn.send(CONNECTION_CAP_RESPONSE)  # a fresh socket's send buffer always takes it
        conn.close()

    def _opened(self, task: asyncio.Task) -> None:
        self._opening.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("connection could not be set up: %r", task.exception())

    def _pause(self, seconds: float) -> None:
        self.paused = True
        self._loop.remove_reader(self._sock.fileno())
        self._loop.call_later(seconds, self._resume)

    def _resume(self) -> None:
        if self._closed:
            return
        if self._busy is not None and self._busy():
            self._loop.call_later(ACCEPT_RECHECK_S, self._resume)
            return
        self.paused = False
        self._loop.add_reader(self._sock.fileno(), self._accept_pending)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(ValueError, OSError):  # the socket may be closed already
                self._loop.remove_reader(self._sock.fileno())

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._opening, return_exceptions=True)
