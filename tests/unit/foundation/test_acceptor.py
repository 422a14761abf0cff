"""aiproxy/acceptor.py: connections are accepted while the event loop is busy, and
closing stops accepting."""

from __future__ import annotations

import asyncio
import socket
import time

import uvloop

from aiproxy.acceptor import Acceptor

CONNECTIONS = 300


class Counting(asyncio.Protocol):
    made = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        Counting.made += 1
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    return sock


async def busy_loop_accepts_everything() -> tuple[int, float]:
    loop = asyncio.get_running_loop()
    sock = listening_socket()
    acceptor = Acceptor(loop, sock, Counting)
    stop = False

    def burn() -> None:  # the loop is never idle: a 5 ms callback always ready
        end = time.perf_counter() + 0.005
        while time.perf_counter() < end:
            pass
        if not stop:
            loop.call_soon(burn)

    for _ in range(20):
        loop.call_soon(burn)
    clients = []
    for _ in range(CONNECTIONS):  # blocking connects: the kernel completes them, the loop must accept
        c = socket.create_connection(sock.getsockname())
        clients.append(c)
    started = time.monotonic()
    while Counting.made < CONNECTIONS and time.monotonic() - started < 20:
        await asyncio.sleep(0.05)
    waited = time.monotonic() - started
    stop = True
    clients[0].sendall(b"ping")  # an accepted connection works
    await asyncio.sleep(0.2)
    echoed = clients[0].recv(16)
    acceptor.close()
    late = socket.create_connection(sock.getsockname())  # closed: queued by the kernel, never accepted
    await asyncio.sleep(0.3)
    made_after_close = Counting.made
    await acceptor.wait_closed()
    for c in [*clients, late]:
        c.close()
    sock.close()
    assert echoed == b"ping"
    return made_after_close, waited


def test_a_busy_loop_accepts_every_pending_connection():
    Counting.made = 0
    made, waited = uvloop.run(busy_loop_accepts_everything())
    # Every connection was accepted while the loop was busy, and none after close().
    # (The starvation of uvloop's own server is a load effect: bench/accept_queue.py.)
    assert made == CONNECTIONS, (made, round(waited, 2))


async def pause_while_busy() -> tuple[int, int, bool]:
    loop = asyncio.get_running_loop()
    sock = listening_socket()
    state = {"busy": True}
    acceptor = Acceptor(loop, sock, Counting, busy=lambda: state["busy"])
    clients = [socket.create_connection(sock.getsockname()) for _ in range(5)]
    await asyncio.sleep(0.3)
    while_busy, paused = Counting.made, acceptor.paused
    state["busy"] = False  # in flight fell below the mark: accepting resumes by itself
    deadline = time.monotonic() + 5
    while Counting.made < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    acceptor.close()
    await acceptor.wait_closed()
    for c in clients:
        c.close()
    sock.close()
    return while_busy, Counting.made, paused


def test_past_the_high_water_mark_new_connections_wait_in_the_kernel_queue():
    Counting.made = 0
    while_busy, after, paused = uvloop.run(pause_while_busy())
    assert (while_busy, paused) == (0, True)
    assert after == 5


class Tracked(Counting):
    """Counts its open connections, as uvicorn's server_state.connections does."""

    open: set[Tracked] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        Tracked.open.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        Tracked.open.discard(self)


def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(2)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    return data


async def cap_connections() -> tuple[int, bytes, bytes, int, bytes]:
    loop = asyncio.get_running_loop()
    sock = listening_socket()
    acceptor = Acceptor(loop, sock, Tracked, open_connections=lambda: len(Tracked.open), max_connections=3)
    kept = []
    for _ in range(3):
        kept.append(socket.create_connection(sock.getsockname()))
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    extra = socket.create_connection(sock.getsockname())
    await asyncio.sleep(0.2)
    refused_answer = await asyncio.to_thread(_read_all, extra)
    kept[0].sendall(b"ping")  # an open connection keeps working
    await asyncio.sleep(0.2)
    echoed = kept[0].recv(16)
    kept.pop().close()  # a slot frees: the next connection is accepted
    await asyncio.sleep(0.2)
    again = socket.create_connection(sock.getsockname())
    await asyncio.sleep(0.2)
    again.sendall(b"pong")
    await asyncio.sleep(0.2)
    again_echo = again.recv(16)
    acceptor.close()
    await acceptor.wait_closed()
    for c in [*kept, extra, again]:
        c.close()
    sock.close()
    return len(Tracked.open), refused_answer, echoed, acceptor.refused, again_echo


def test_past_max_connections_a_new_connection_gets_503_and_is_closed():
    Tracked.open = set()
    _open, refused_answer, echoed, refused, again_echo = uvloop.run(cap_connections())
    assert refused_answer.startswith(b"HTTP/1.1 503") and b"Too many connections" in refused_answer
    assert refused == 1
    assert echoed == b"ping"
    assert again_echo == b"pong"
