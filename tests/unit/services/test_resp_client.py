"""The lean Redis client (resp_client): its RESP2 reading and writing, its URL, and its
behaviour on a socket, against a small RESP server in this process that the tests steer
(batched replies, replies cut into pieces, a server that hangs up or never answers).
tests/integration/test_resp_client_redis.py runs it against a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from completions_app.services.resp_client import (
    Address,
    ReplyError,
    RespClient,
    _Incomplete,
    encode,
    lean_url,
    parse,
    parse_url,
)
from completions_app.services.shared_state import StateUnavailable


# --- RESP2 -----------------------------------------------------------------------------
def test_encode_writes_a_command_as_an_array_of_bulk_strings():
    assert encode(("SET", "k", 12, b"\x00b")) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$2\r\n\x00b\r\n"
    assert encode(("GET", "é")) == b"*2\r\n$3\r\nGET\r\n$2\r\n\xc3\xa9\r\n"  # length in bytes


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        (b":-42\r\n", -42),
        (b"+OK\r\n", "OK"),
        (b"$5\r\nhe\r\no\r\n", "he\r\no"),  # a bulk string is read by its length, not by lines
        (b"$0\r\n\r\n", ""),
        (b"$-1\r\n", None),
        (b"*-1\r\n", None),
        (b"*0\r\n", []),
        (b"*3\r\n:1\r\n$-1\r\n*2\r\n+a\r\n:2\r\n", [1, None, ["a", 2]]),
    ],
)
def test_parse_reads_each_reply_type(wire, value):
    assert parse(wire + b"+next\r\n", 0) == (value, len(wire))


def test_an_error_reply_is_a_value_even_inside_an_array():
    wire = b"*2\r\n:1\r\n-NOSCRIPT No matching script\r\n"
    (ok, err), end = parse(wire, 0)
    assert ok == 1 and isinstance(err, ReplyError) and str(err) == "NOSCRIPT No matching script"
    assert end == len(wire)


def test_every_cut_of_a_reply_is_incomplete_not_wrong():
    wire = b"*3\r\n:10\r\n$4\r\nabcd\r\n*1\r\n+x\r\n"
    for cut in range(len(wire)):
        with pytest.raises(_Incomplete):
            parse(wire[:cut], 0)
    assert parse(wire, 0) == ([10, "abcd", ["x"]], len(wire))


def test_garbage_is_refused():
    with pytest.raises(ValueError, match="RESP2"):
        parse(b"?what\r\n", 0)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("redis://10.0.0.5", Address("10.0.0.5", 6379, 0, None, None)),
        ("redis://h:7000/4", Address("h", 7000, 4, None, None)),
        ("redis://:s%40cret@h/2", Address("h", 6379, 2, None, "s@cret")),
        ("redis://bob:pw@h:1/0", Address("h", 1, 0, "bob", "pw")),
        ("redis://h?db=9", Address("h", 6379, 9, None, None)),
    ],
)
def test_parse_url_reads_what_redis_py_reads(url, address):
    assert parse_url(url) == address


def test_only_plain_tcp_urls_are_served_here():
    assert lean_url("redis://h/1")
    assert not lean_url("rediss://h/1")  # TLS: the limiter keeps redis-py
    assert not lean_url("unix:///run/redis.sock")
    with pytest.raises(ValueError, match="rediss"):
        parse_url("rediss://h")


# --- on a socket ----------------------------------------------------------------------------
Handler = Callable[[list[str]], bytes | None]  # a command -> its reply (None: no reply)


class FakeRedis:
    """A RESP server on 127.0.0.1 that records the commands it reads. `answer` decides each
    reply; `batch` > 1 holds replies until that many commands arrived (then writes them at
    once); `split` writes each reply one byte at a time; `hang_up` closes on a command."""

    def __init__(self, answer: Handler | None = None) -> None:
        self.answer = answer or _echo
        self.commands: list[list[str]] = []
        self.connections = 0
        self.batch = 1
        self.split = False
        self.hang_up: Callable[[list[str]], bool] = lambda cmd: False
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> FakeRedis:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for w in self.writers:
            w.close()
        self.server.close()

    def url(self, auth: str = "", db: str = "") -> str:
        return f"redis://{auth}127.0.0.1:{self.port}{db}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        held: list[bytes] = []
        try:
            while True:
                cmd = await _read_command(reader)
                self.commands.append(cmd)
                if self.hang_up(cmd):
                    writer.close()
                    return
                reply = self.answer(cmd)
                if reply is None:
                    continue
                held.append(reply)
                if len(held) < self.batch:
                    continue
                out, held = b"".join(held), []
                if self.split:
                    for i in range(len(out)):
                        writer.write(out[i : i + 1])
                        await writer.drain()
                        await asyncio.sleep(0)
                else:
                    writer.write(out)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def _read_command(reader: asyncio.StreamReader) -> list[str]:
    """What a real server reads: an array of bulk strings (written independently of encode())."""
    head = await reader.readline()
    if not head:
        raise asyncio.IncompleteReadError(b"", None)
    assert head.startswith(b"*"), head
    args = []
    for _ in range(int(head[1:])):
        size = await reader.readline()
        assert size.startswith(b"$"), size
        args.append((await reader.readexactly(int(size[1:]) + 2))[:-2].decode())
    return args


def _echo(cmd: list[str]) -> bytes:
    if cmd[0] in ("AUTH", "SELECT"):
        return b"+OK\r\n"
    text = " ".join(cmd).encode()
    return b"$%d\r\n%b\r\n" % (len(text), text)


async def test_concurrent_calls_share_one_connection_and_get_their_own_replies():
    async with FakeRedis() as fake:
        fake.batch = 10  # the replies of all ten come back in one write
        client = RespClient(fake.url(), timeout_s=2)
        replies = await asyncio.gather(*(client.call("ECHO", i) for i in range(10)))
        assert replies == [f"ECHO {i}" for i in range(10)]
        assert fake.connections == client.connects == 1
        await client.aclose()


async def test_the_commands_of_one_loop_iteration_leave_in_one_write():
    async with FakeRedis() as fake:
        client = RespClient(fake.url(), timeout_s=2)
        await client.call("HELLO")
        (conn,) = client._conns.values()  # noqa: SLF001 - the connection whose writes are counted
        writes: list[bytes] = []
        real_write = conn.transport.write

        def counted(data: bytes) -> None:
            writes.append(data)
            real_write(data)

        conn.transport.write = counted
        assert await asyncio.gather(*(client.call("ECHO", i) for i in range(5))) == [f"ECHO {i}" for i in range(5)]
        assert len(writes) == 1 and writes[0].count(b"ECHO") == 5
        await client.call("ALONE")
        assert len(writes) == 2
        await client.aclose()


async def test_a_reply_cut_into_single_bytes_is_read_whole():
    async with FakeRedis(lambda cmd: b"*3\r\n:7\r\n$5\r\nhello\r\n$-1\r\n") as fake:
        fake.split = True
        client = RespClient(fake.url(), timeout_s=2)
        assert await asyncio.gather(client.call("X"), client.call("Y")) == [[7, "hello", None]] * 2
        await client.aclose()


async def test_an_error_reply_raises_reply_error_and_the_connection_carries_on():
    def answer(cmd: list[str]) -> bytes:
        return b"-ERR unknown command\r\n" if cmd[0] == "BAD" else b":1\r\n"

    async with FakeRedis(answer) as fake:
        client = RespClient(fake.url(), timeout_s=2)
        with pytest.raises(ReplyError, match="ERR unknown command"):
            await client.call("BAD")
        assert await client.call("GOOD") == 1
        assert client.connects == 1
        await client.aclose()


async def test_a_server_hanging_up_fails_the_pending_calls_then_a_new_connection_serves():
    async with FakeRedis() as fake:
        fake.batch = 3  # two calls wait for replies when the third command closes the connection
        fake.hang_up = lambda cmd: cmd == ["BYE"]
        client = RespClient(fake.url(), timeout_s=2)
        results = await asyncio.gather(client.call("A"), client.call("B"), client.call("BYE"), return_exceptions=True)
        assert all(isinstance(r, StateUnavailable) for r in results)
        assert isinstance(results[0].__cause__, ConnectionError)
        fake.batch = 1
        assert await client.call("AGAIN") == "AGAIN"
        assert fake.connections == client.connects == 2
        await client.aclose()


async def test_no_answer_times_out_with_state_unavailable_and_the_next_call_reconnects():
    async with FakeRedis(lambda cmd: None if cmd[0] == "HANG" else _echo(cmd)) as fake:
        client = RespClient(fake.url(), timeout_s=0.2)
        t0 = time.monotonic()
        with pytest.raises(StateUnavailable) as info:
            await client.call("HANG")
        assert 0.15 < time.monotonic() - t0 < 1.5
        assert isinstance(info.value.__cause__, TimeoutError)
        assert await client.call("PING") == "PING"  # a reply to HANG could no longer be told apart
        assert client.connects == 2
        await client.aclose()


async def test_a_cancelled_call_leaves_its_reply_to_nobody_and_the_order_intact():
    async with FakeRedis() as fake:
        fake.batch = 2
        client = RespClient(fake.url(), timeout_s=2)
        first = asyncio.ensure_future(client.call("FIRST"))
        await asyncio.sleep(0.05)
        first.cancel()
        assert await client.call("SECOND") == "SECOND"
        assert first.cancelled() and client.connects == 1
        await client.aclose()


async def test_auth_and_select_come_from_the_url_on_each_connect():
    async with FakeRedis() as fake:
        fake.hang_up = lambda cmd: cmd == ["BYE"]
        client = RespClient(fake.url("bob:p%40ss@", "/3"), timeout_s=2)
        assert await client.call("PING") == "PING"
        with pytest.raises(StateUnavailable):
            await client.call("BYE")
        await client.call("PING")
        hello = [["AUTH", "bob", "p@ss"], ["SELECT", "3"]]
        assert fake.commands == [*hello, ["PING"], ["BYE"], *hello, ["PING"]]
        await client.aclose()


async def test_a_password_alone_and_db_0_send_auth_only():
    async with FakeRedis() as fake:
        client = RespClient(fake.url(":pw@", "/0"), timeout_s=2)
        await client.call("PING")
        assert fake.commands == [["AUTH", "pw"], ["PING"]]
        await client.aclose()


async def test_a_refused_auth_is_state_unavailable():
    async with FakeRedis(lambda cmd: b"-WRONGPASS invalid\r\n" if cmd[0] == "AUTH" else _echo(cmd)) as fake:
        client = RespClient(fake.url(":bad@"), timeout_s=2)
        with pytest.raises(StateUnavailable) as info:
            await client.call("PING")
        assert isinstance(info.value.__cause__, ReplyError)
        assert ["PING"] not in fake.commands
        await client.aclose()


async def test_calls_during_a_connect_wait_for_that_one_connection():
    async with FakeRedis() as fake:
        client = RespClient(fake.url(), timeout_s=2)
        assert len(await asyncio.gather(*(client.call("P", i) for i in range(20)))) == 20
        assert fake.connections == 1
        await client.aclose()


async def test_nothing_listening_is_state_unavailable():
    async with FakeRedis() as fake:
        url = fake.url()
    client = RespClient(url, timeout_s=0.5)
    results = await asyncio.gather(client.call("PING"), client.call("PING"), return_exceptions=True)
    assert all(isinstance(r, StateUnavailable) for r in results)
    assert isinstance(results[0].__cause__, OSError)


async def test_evalsha_loads_the_script_after_noscript():
    scripts: set[str] = set()

    def answer(cmd: list[str]) -> bytes:
        if cmd[0] == "EVALSHA":
            return b":5\r\n" if cmd[1] in scripts else b"-NOSCRIPT No matching script.\r\n"
        scripts.add("sha-of-" + cmd[1])  # EVAL: the server caches it
        return b":5\r\n"

    async with FakeRedis(answer) as fake:
        client = RespClient(fake.url(), timeout_s=2)
        assert await client.evalsha("sha-of-return 5", "return 5", ["a|b"]) == 5
        assert await client.evalsha("sha-of-return 5", "return 5", ["a|b"]) == 5
        assert fake.commands == [
            ["EVALSHA", "sha-of-return 5", "0", "a|b"],
            ["EVAL", "return 5", "0", "a|b"],
            ["EVALSHA", "sha-of-return 5", "0", "a|b"],
        ]
        await client.aclose()


async def test_evalsha_raises_other_errors_as_they_are():
    async with FakeRedis(lambda cmd: b"-ERR Error running script\r\n") as fake:
        client = RespClient(fake.url(), timeout_s=2)
        with pytest.raises(ReplyError, match="Error running script"):
            await client.evalsha("abc", "return x", [])
        assert [c[0] for c in fake.commands] == ["EVALSHA"]
        await client.aclose()
