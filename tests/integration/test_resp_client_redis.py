"""The lean Redis client (resp_client) and the limiter's use of it, on a real Redis: replies
of each type, concurrent calls pipelined on one connection, EVALSHA after a script flush, a
connection killed mid-call, a timeout, AUTH and SELECT from the URL."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from decimal import Decimal

import pytest
import redis

from completions_app.services.limit_types import Ask, Limits, Owner
from completions_app.services.limits_redis import RedisLimiter
from completions_app.services.redis_state import RedisState
from completions_app.services.resp_client import ReplyError, RespClient
from completions_app.services.shared_state import StateUnavailable

pytestmark = pytest.mark.redis

URL = "redis://127.0.0.1:6379/4"


@pytest.fixture
def plain():  # type: ignore[no-untyped-def]
    """redis-py on the same database, emptied first: what another client sees."""
    with redis.Redis.from_url(URL, decode_responses=True) as r:
        r.flushdb()
        yield r


@pytest.fixture
async def client(plain):  # type: ignore[no-untyped-def]
    c = RespClient(URL, timeout_s=2)
    yield c
    await c.aclose()


async def test_replies_of_each_type(client, plain):
    assert await client.call("SET", "k", "välue") == "OK"
    assert plain.get("k") == "välue"
    assert await client.call("GET", "k") == "välue"
    assert await client.call("GET", "missing") is None
    assert await client.call("INCRBY", "n", 5_000_000_000_000_000) == 5_000_000_000_000_000
    assert await client.call("HSET", "h", "a", "1", "b", "2") == 2
    assert await client.call("HMGET", "h", "a", "z", "b") == ["1", None, "2"]
    with pytest.raises(ReplyError, match="WRONGTYPE"):
        await client.call("INCR", "h")
    assert await client.call("PING") == "PONG"  # the connection carries on after an error reply


async def test_concurrent_calls_are_pipelined_on_one_connection(client, plain):
    results = await asyncio.gather(*(client.call("INCR", "count") for _ in range(300)))
    assert sorted(results) == list(range(1, 301))
    ids = await asyncio.gather(*(client.call("CLIENT", "ID") for _ in range(20)))
    assert len(set(ids)) == 1 and client.connects == 1
    assert plain.get("count") == "300"


async def test_evalsha_after_a_script_flush(client, plain):
    script = "return {redis.call('INCRBY', KEYS[1] or 'e', ARGV[1]), ARGV[2]}"
    sha = plain.script_load(script)
    assert await client.evalsha(sha, script, ["3", "x"]) == [3, "x"]
    plain.script_flush()
    assert await client.evalsha(sha, script, ["4", "y"]) == [7, "y"]  # NOSCRIPT, then EVAL
    assert plain.script_exists(sha) == [True]  # EVAL cached it again
    with pytest.raises(ReplyError, match="NOSCRIPT"):
        await client.call("EVALSHA", "0" * 40, 0)


async def test_a_connection_killed_mid_call_fails_it_then_the_client_reconnects(client, plain):
    own_id = await client.call("CLIENT", "ID")
    pending = asyncio.ensure_future(client.call("BLPOP", "never-pushed", 1.5))  # waits in Redis
    await asyncio.sleep(0.1)
    assert plain.client_kill_filter(_id=own_id) == 1
    with pytest.raises(StateUnavailable):
        await pending
    assert await client.call("CLIENT", "ID") != own_id
    assert client.connects == 2


async def test_a_timeout_is_state_unavailable_and_the_next_call_reconnects(plain):
    client = RespClient(URL, timeout_s=0.2)
    await client.call("PING")
    t0 = time.monotonic()
    with pytest.raises(StateUnavailable):
        await client.call("BLPOP", "never-pushed", 2)
    assert time.monotonic() - t0 < 1.0
    assert await client.call("SET", "after", "1") == "OK"
    assert client.connects == 2
    await client.aclose()


async def test_auth_and_select_from_the_url(plain):
    user, password = f"aiproxy-test-{uuid.uuid4().hex[:8]}", "s3cret/pw"
    plain.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all"])
    try:
        client = RespClient(f"redis://{user}:s3cret%2Fpw@127.0.0.1:6379/4", timeout_s=2)
        assert await client.call("SET", "authed", "yes") == "OK"
        assert await client.call("ACL", "WHOAMI") == user
        assert " db=4 " in await client.call("CLIENT", "INFO")
        assert plain.get("authed") == "yes"  # written in database 4
        await client.aclose()

        wrong = RespClient(f"redis://{user}:nope@127.0.0.1:6379/4", timeout_s=2)
        with pytest.raises(StateUnavailable) as info:
            await wrong.call("PING")
        assert "WRONGPASS" in str(info.value.__cause__)
    finally:
        plain.acl_deluser(user)


def _silent_server() -> tuple[socket.socket, str]:
    """A listening socket that accepts (the kernel's backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s, f"redis://127.0.0.1:{s.getsockname()[1]}/4"


async def test_the_limiter_marks_redis_down_after_one_timeout(settings):
    settings.LIMIT_REDIS_TIMEOUT_S = 0.3  # the limiter waits longer than the state's 0.2 s
    silent, url = _silent_server()
    state = RedisState(url, timeout_s=0.2)
    lim = RedisLimiter(state)
    k = Owner("key", 1, "k", Limits(rpm=5))
    try:
        t0 = time.monotonic()
        with pytest.raises(StateUnavailable):
            await lim.admit((k,), Ask(tokens=1, cost=Decimal(0), hold=False))
        assert 0.28 < time.monotonic() - t0 < 1.0
        assert not state.usable()  # the cache and breakers skip Redis meanwhile too
        t1 = time.monotonic()
        with pytest.raises(StateUnavailable):
            await lim.admit((k,), Ask(tokens=1, cost=Decimal(0), hold=False))
        assert time.monotonic() - t1 < 0.05  # no second timeout while it is marked down
        assert lim.client is not None and lim.client.connects == 1
    finally:
        await lim.aclose()
        silent.close()


async def test_the_limiter_keeps_redis_py_for_tls():
    lim = RedisLimiter(RedisState("rediss://127.0.0.1:6380/4", timeout_s=0.2))
    assert lim.client is None


async def test_another_pieces_timeout_does_not_switch_the_limiter_to_per_process():
    """The cache's 0.25 s timeout under a busy loop once sent every replica to counting apart:
    the state marked down does not mark the limiter down."""
    state = RedisState(URL, timeout_s=0.2)
    lim = RedisLimiter(state)
    state.down_until = time.monotonic() + 60  # the cache or a breaker saw a timeout
    try:
        k = Owner("key", 7, "k7", Limits(rpm=5))
        admission = await lim.admit((k,), Ask(tokens=1, cost=Decimal(0), hold=False))
        assert admission.exact
    finally:
        await lim.aclose()
