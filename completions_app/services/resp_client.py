"""A lean Redis client for the limiter's two calls per request: RESP2 on one pipelined
connection per event loop.

Why not redis-py here: its asyncio client takes a connection from a pool, wraps the call
in timeouts and parses the reply through a stream reader, ~0.08-0.12 ms of CPU per command;
the limiter makes two per limited request and the issue allows 0.15 ms for the whole of it.
Here a call is one `transport.write` and one future: `data_received` parses what arrived and
resolves the waiting futures in the order the commands were written (Redis answers a
connection's commands in order), so concurrent calls share the connection (pipelined).
An asyncio.Protocol rather than streams: a reader task would cost an extra wake-up per reply.

What it does not do: TLS (rediss://: the limiter keeps redis-py for it, `lean_url`), RESP3,
pub/sub, blocking commands beyond their timeout, Cluster.

Failures: a connection that breaks or a call that times out fails every call pending on it
with shared_state.StateUnavailable and is closed; the next call opens a new one (AUTH and
SELECT from the URL on connect). An error reply (-ERR, -NOSCRIPT...) raises ReplyError.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .shared_state import StateUnavailable

Arg = str | bytes | int


class ReplyError(Exception):
    """Redis answered the command with an error (its text: "NOSCRIPT ...", "ERR ...")."""


class _Incomplete(Exception):  # noqa: N818 - internal signal: the buffer holds part of a reply
    pass


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None


def lean_url(url: str) -> bool:
    """Whether this client serves the URL (plain TCP); rediss:// (TLS) and unix:// stay with redis-py."""
    return url.startswith("redis://")


def parse_url(url: str) -> Address:
    """redis://[[username]:password@]host[:port][/db] (or ?db=N), as redis-py reads it."""
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError(f"not a redis:// URL: {parts.scheme}://")
    db_text = parts.path.lstrip("/") or parse_qs(parts.query).get("db", ["0"])[0]
    return Address(
        host=parts.hostname or "localhost",
        port=parts.port or 6379,
        db=int(db_text or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def encode(args: Sequence[Arg]) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    return b"".join(out)


def parse(buf: bytes | bytearray, pos: int) -> tuple[Any, int]:
    """One reply from buf at pos: (value, position after it); raises _Incomplete when buf holds
    only part of it. Bulk strings come back as str (UTF-8: replies here are text), an error reply as
    a ReplyError value (inside an array it is one element among others)."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line = buf[pos], buf[pos + 1 : end]
    pos = end + 2
    if kind == 58:  # ':' integer
        return int(line), pos
    if kind == 36:  # '$' bulk string
        n = int(line)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            raise _Incomplete
        return buf[pos : pos + n].decode(), pos + n + 2
    if kind == 42:  # '*' array
        n = int(line)
        if n < 0:
            return None, pos
        items = []
        for _ in range(n):
            item, pos = parse(buf, pos)
            items.append(item)
        return items, pos
    if kind == 43:  # '+' simple string
        return line.decode(), pos
    if kind == 45:  # '-' error
        return ReplyError(line.decode()), pos
    raise ValueError(f"not a RESP2 reply: {bytes(buf[pos - 2 - len(line) - 1 : pos])!r}")


def _unavailable(message: str, cause: BaseException | None) -> StateUnavailable:
    exc = StateUnavailable(message)
    exc.__cause__ = cause  # what FallbackLimiter logs
    return exc


class _Connection(asyncio.Protocol):
    """One connection: commands written in order, replies matched to them in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending: deque[asyncio.Future] = deque()
        self.buf = bytearray()
        self.out: list[bytes] = []  # commands not written yet (see send)
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos, size, pending = 0, len(buf), self.pending
        try:
            while pos < size:
                value, pos_next = parse(buf, pos)
                pos = pos_next
                if not pending:
                    raise ValueError("a reply nobody asked for")
                fut = pending.popleft()
                if fut.done():  # its caller was cancelled: the reply is dropped, the order kept
                    continue
                if isinstance(value, ReplyError):
                    fut.set_exception(value)
                else:
                    fut.set_result(value)
        except _Incomplete:
            pass
        except ValueError as exc:  # out of step with the server: nothing after this can be trusted
            self.fail(_unavailable("redis: protocol error", exc))
            return
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(_unavailable("redis: connection lost", exc or ConnectionResetError("closed by the server")))

    def fail(self, exc: StateUnavailable) -> None:
        """Close, and fail every call still waiting (their replies will never come)."""
        self.closed = True
        pending, self.pending = self.pending, deque()
        for fut in pending:
            if not fut.done():
                fut.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def send(self, payload: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future:
        fut = loop.create_future()
        self.pending.append(fut)
        if self.out:
            self.out.append(payload)
        else:  # written at the end of this loop iteration, with the calls made meanwhile
            self.out = [payload]
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        # One send() for every command of the iteration: on loopback the syscall and the TCP
        # work in the kernel cost more than the rest of a call (16 concurrent admit + settle in
        # one process: ~0.10 -> ~0.05 ms of CPU each).
        out, self.out = self.out, []
        if not self.closed:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))  # type: ignore[union-attr]


class RespClient:
    """Calls to one Redis: one connection per event loop (tests run many loops; `serve` one)."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self.address = parse_url(url)
        self.timeout_s = timeout_s
        self.connects = 0  # connections opened (tests count them)
        self._conns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Connection] = weakref.WeakKeyDictionary()
        self._opening: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future] = (
            weakref.WeakKeyDictionary()
        )

    async def call(self, *args: Arg) -> Any:
        """One command; its reply (int, str, None, list), ReplyError for an error reply,
        StateUnavailable when Redis does not answer within the timeout."""
        loop = asyncio.get_running_loop()
        conn = self._conns.get(loop)
        if conn is None or conn.closed:
            conn = await self._connect(loop)
        return await self._wait(conn, conn.send(encode(args), loop), loop)

    async def evalsha(self, sha: str, script: str, args: Sequence[Arg]) -> Any:
        """EVALSHA with no keys; after a NOSCRIPT (a restarted or flushed Redis), EVAL, which
        also caches the script again."""
        try:
            return await self.call("EVALSHA", sha, 0, *args)
        except ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self.call("EVAL", script, 0, *args)

    async def _wait(self, conn: _Connection, fut: asyncio.Future, loop: asyncio.AbstractEventLoop) -> Any:
        # A timer per call: cheaper than asyncio.wait_for (its own waiter future and callbacks).
        timer = loop.call_later(self.timeout_s, _expire, conn, fut)
        try:
            return await fut
        finally:
            timer.cancel()

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        opening = self._opening.get(loop)
        if opening is not None:  # another call is connecting: wait for its connection
            return await asyncio.shield(opening)
        opening = self._opening[loop] = loop.create_future()
        try:
            conn = await self._open(loop)
        except BaseException as exc:
            # The waiters get a StateUnavailable even when this call was cancelled (they were not).
            failure = exc if isinstance(exc, StateUnavailable) else _unavailable("redis: connect abandoned", exc)
            opening.set_exception(failure)
            opening.exception()  # retrieved: there may be no waiter
            raise
        else:
            self._conns[loop] = conn
            opening.set_result(conn)
            return conn
        finally:
            del self._opening[loop]

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        a = self.address
        try:
            async with asyncio.timeout(self.timeout_s):
                _, conn = await loop.create_connection(_Connection, a.host, a.port)
        except (OSError, TimeoutError) as exc:
            raise _unavailable(f"redis: cannot connect to {a.host}:{a.port}", exc) from exc
        self.connects += 1
        hello: list[asyncio.Future] = []
        if a.password is not None:
            auth = ("AUTH", a.username, a.password) if a.username else ("AUTH", a.password)
            hello.append(conn.send(encode(auth), loop))
        if a.db:
            hello.append(conn.send(encode(("SELECT", a.db)), loop))
        try:
            for fut in hello:
                await self._wait(conn, fut, loop)
        except ReplyError as exc:  # a wrong password or db number: not reachable as configured
            conn.fail(_unavailable("redis: connection refused by the server", exc))
            raise _unavailable(f"redis: {exc}", exc) from exc
        except BaseException:
            conn.fail(_unavailable("redis: connect abandoned", None))
            raise
        return conn

    async def aclose(self) -> None:
        """Close the running loop's connection (the others' loops are gone or not ours to touch)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        conn = self._conns.pop(loop, None) if loop is not None else None
        self._conns.clear()
        if conn is not None:
            conn.fail(_unavailable("redis: client closed", None))


def _expire(conn: _Connection, fut: asyncio.Future) -> None:
    if not fut.done():
        # Its reply may still come, but every later reply on this connection would then be
        # matched to the wrong call: the connection goes, with all its calls.
        conn.fail(_unavailable("redis: timed out", TimeoutError()))
