"""Budgets and rate limits in Redis: exact across replicas.

One Lua script per step, so a step is atomic and costs one round trip: ADMIT checks every
limit of every owner and, only if all fit, counts and reserves; SETTLE swaps a reservation
for what the request used. Both follow limits.py (the check order of `first_over`, money in
nano-dollars); the moment comes from the caller's clock (replicas' clocks are NTP-close;
a skew only moves a window's edge by that much).

Keys, per owner (Owner.ref) under redis_state.PREFIX:
  lim:<ref>:m:<epoch minute>  hash r (requests), t (tokens)       expires after 2 minutes
  lim:<ref>:d:<day>, :M:<month>  settled nano-dollars              expire after the period + 1h
  lim:<ref>:exp  zset id -> expiry (ms): live reservations (concurrency)
  lim:<ref>:res  hash id -> held nano-dollars, and _held: their sum
  lim:done:<id>  a settle happened (a second one changes nothing)
The scripts build these names from the owners' refs (one packed argument per owner): fine
on one Redis (or Sentinel); Redis Cluster would need every key passed in KEYS and the
owners' keys in one hash slot. Numbers reach Redis's integer commands as the caller's
strings: Lua would print a large number as 1e+15, which INCRBY refuses.

The two calls go through resp_client.RespClient (one pipelined connection per event loop:
a fraction of redis-py's CPU per call), rediss:// (TLS) through the RedisState's redis-py
client. Redis errors and timeouts surface as shared_state.StateUnavailable and mark Redis
down for redis_state.DOWN_FOR_S on the RedisState, as its own calls do (so an outage costs
one timeout, not one per request, and the cache and breakers skip Redis meanwhile too);
limits.FallbackLimiter then answers from this process.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import redis
import redis.asyncio as aredis
from django.conf import settings

from .limit_types import Admission, Ask, Owner, OwnerUsage, Spend
from .limits import (
    CHECKED,
    PERIOD_MARGIN_S,
    Clock,
    Counts,
    admission_for,
    held_tokens,
    limit_args,
    nanos_up,
    periods_at,
    rate_headers,
    refusal,
    reservation_ttl_s,
    usd,
)
from .redis_state import DOWN_FOR_S, PREFIX, RedisState
from .resp_client import ReplyError, RespClient, lean_url
from .shared_state import StateUnavailable

# Fields are packed "a|b|c" in one argument per request and per owner: redis-py spends a few
# microseconds of gateway CPU on every argument it encodes; Redis splits them for less.
_COMMON = """
local function split(s)
  local t = {}
  for v in string.gmatch(s, '[^|]+') do t[#t + 1] = v end
  return t
end
local function owner_keys(prefix, ref, minute, day, month)
  local base = prefix .. 'lim:' .. ref .. ':'
  return {base .. 'm:' .. minute, base .. 'd:' .. day, base .. 'M:' .. month, base .. 'exp', base .. 'res'}
end
-- Drop the expired reservations of one owner (at most 500 at once: unpack has a limit).
local function purge(exp, res, now)
  local gone = redis.call('ZRANGEBYSCORE', exp, '-inf', now, 'LIMIT', 0, 500)
  for _, id in ipairs(gone) do
    local c = redis.call('HGET', res, id)
    if c and c ~= '0' then redis.call('HINCRBY', res, '_held', '-' .. c) end
  end
  if #gone > 0 then
    redis.call('HDEL', res, unpack(gone))
    redis.call('ZREM', exp, unpack(gone))
  end
end
"""

# ARGV[1]: prefix|now_ms|expiry_ms|id|tokens|cost|hold (1/0)|keep_ms (reservation keys' TTL)|minute|day|month
# ARGV[2..]: per owner ref|rpm|tpm|concurrency|budget_day|budget_month (-1: none)
# Returns {fits (1/0), limit code (1..5, CHECKED order), owner (1-based), then per owner
# requests and tokens this minute (after counting, when it fits)}.
ADMIT = (
    _COMMON
    + """
local h = split(ARGV[1])
local prefix, now, expiry, id, keep = h[1], h[2], h[3], h[4], h[8]
local tokens, cost, hold = tonumber(h[5]), tonumber(h[6]), h[7] == '1'
local n = #ARGV - 1
local keys, lims = {}, {}
for i = 1, n do
  local o = split(ARGV[i + 1])
  keys[i] = owner_keys(prefix, o[1], h[9], h[10], h[11])
  lims[i] = {tonumber(o[2]), tonumber(o[3]), tonumber(o[4]), tonumber(o[5]), tonumber(o[6])}
end
local out = {1, 0, 0}
for i = 1, n do
  local k, l = keys[i], lims[i]
  local rt = redis.call('HMGET', k[1], 'r', 't')
  local r, t = tonumber(rt[1]) or 0, tonumber(rt[2]) or 0
  out[2 + 2 * i], out[3 + 2 * i] = r, t
  if out[2] == 0 then
    local over = 0
    if l[1] >= 0 and r + 1 > l[1] then over = 1
    elseif l[2] >= 0 and t + tokens > l[2] then over = 2
    elseif hold then
      purge(k[4], k[5], now)
      if l[3] >= 0 and redis.call('ZCARD', k[4]) + 1 > l[3] then over = 3
      elseif l[4] >= 0 or l[5] >= 0 then
        local held = tonumber(redis.call('HGET', k[5], '_held')) or 0
        if l[4] >= 0 and (tonumber(redis.call('GET', k[2])) or 0) + held + cost > l[4] then over = 4
        elseif l[5] >= 0 and (tonumber(redis.call('GET', k[3])) or 0) + held + cost > l[5] then over = 5
        end
      end
    end
    if over > 0 then out[1], out[2], out[3] = 0, over, i end
  end
end
if out[1] == 0 then return out end
for i = 1, n do
  local k = keys[i]
  out[2 + 2 * i] = redis.call('HINCRBY', k[1], 'r', 1)
  if tokens > 0 then out[3 + 2 * i] = redis.call('HINCRBY', k[1], 't', h[5]) end
  redis.call('PEXPIRE', k[1], 120000)
  if hold then
    redis.call('ZADD', k[4], expiry, id)
    redis.call('HSET', k[5], id, h[6])
    if cost > 0 then redis.call('HINCRBY', k[5], '_held', h[6]) end
    redis.call('PEXPIRE', k[4], keep)
    redis.call('PEXPIRE', k[5], keep)
  end
end
return out
"""
)

# ARGV[1]: prefix|id|marker_ms|token delta|cost|day_keep_ms|month_keep_ms|minute|day|month
# (the admission's periods); ARGV[2..]: the owners' refs.
# Returns per owner the day's and the month's settled nano-dollars (strings).
SETTLE = (
    _COMMON
    + """
local h = split(ARGV[1])
local prefix, id = h[1], h[2]
local first = redis.call('SET', prefix .. 'lim:done:' .. id, '1', 'NX', 'PX', h[3])
local delta, cost = tonumber(h[4]), tonumber(h[5])
local out = {}
for i = 1, #ARGV - 1 do
  local k = owner_keys(prefix, ARGV[i + 1], h[8], h[9], h[10])
  if first then
    local c = redis.call('HGET', k[5], id)
    if c then
      if c ~= '0' then redis.call('HINCRBY', k[5], '_held', '-' .. c) end
      redis.call('HDEL', k[5], id)
      redis.call('ZREM', k[4], id)
    end
    if delta ~= 0 and redis.call('EXISTS', k[1]) == 1 then
      if redis.call('HINCRBY', k[1], 't', h[4]) < 0 then redis.call('HSET', k[1], 't', '0') end
    end
    if cost > 0 then
      redis.call('INCRBY', k[2], h[5])
      redis.call('PEXPIRE', k[2], h[6])
      redis.call('INCRBY', k[3], h[5])
      redis.call('PEXPIRE', k[3], h[7])
    end
  end
  out[2 * i - 1] = redis.call('GET', k[2]) or '0'
  out[2 * i] = redis.call('GET', k[3]) or '0'
end
return out
"""
)

# ARGV[1]: prefix|now_ms|minute|day|month|ref.
# Returns requests, tokens, live reservations, held, day, month.
USAGE = (
    _COMMON
    + """
local h = split(ARGV[1])
local k = owner_keys(h[1], h[6], h[3], h[4], h[5])
purge(k[4], k[5], h[2])
local rt = redis.call('HMGET', k[1], 'r', 't')
return {rt[1] or '0', rt[2] or '0', redis.call('ZCARD', k[4]), redis.call('HGET', k[5], '_held') or '0',
        redis.call('GET', k[2]) or '0', redis.call('GET', k[3]) or '0'}
"""
)


@dataclass(frozen=True, slots=True)
class _Script:
    text: str

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.text.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1


_ADMIT, _SETTLE, _USAGE = _Script(ADMIT), _Script(SETTLE), _Script(USAGE)
_SHAS = {s: s.sha for s in (_ADMIT, _SETTLE, _USAGE)}


@lru_cache(maxsize=4096)
def _owner_arg(owner: Owner) -> str:
    return "|".join((owner.ref, *map(str, limit_args(owner))))


class RedisLimiter:
    def __init__(self, state: RedisState, *, clock: Clock = time.time) -> None:
        self.state = state  # its URL, timeout, down-marking and round-trip count
        self.clock = clock
        self.ttl_ms = int(reservation_ttl_s() * 1000)  # read once: settings do not change while serving
        # Limits wait longer than the cache does (LIMIT_REDIS_TIMEOUT_S), and are not switched to
        # per-process counting by another piece's timeout: a cache miss costs nothing, counting
        # apart costs exactness (a busy event loop once passed for an outage at 0.25 s).
        self.timeout_s = max(state.timeout_s, float(getattr(settings, "LIMIT_REDIS_TIMEOUT_S", 1.0)))
        self.down_until = 0.0
        self.client = RespClient(state.url, timeout_s=self.timeout_s) if lean_url(state.url) else None

    async def _run(self, script: _Script, args: Sequence[str]) -> list:
        if self.client is None:
            return await self._run_redis_py(script, args)
        state = self.state
        if time.monotonic() < self.down_until:
            raise StateUnavailable
        state.round_trips += 1
        try:
            return await self.client.evalsha(_SHAS[script], script.text, args)
        except (StateUnavailable, ReplyError) as exc:
            # Down for the limiter, and for the state's other users too: Redis failed us.
            self.down_until = state.down_until = time.monotonic() + DOWN_FOR_S
            if isinstance(exc, StateUnavailable):
                raise
            raise StateUnavailable(f"redis: {exc}") from exc

    async def _run_redis_py(self, script: _Script, args: Sequence[str]) -> list:
        sha = _SHAS[script]

        async def call(r: aredis.Redis) -> list:
            try:
                return await r.evalsha(sha, 0, *args)
            except redis.exceptions.NoScriptError:
                return await r.eval(script.text, 0, *args)  # and Redis caches it

        return await self.state._call(call)  # noqa: SLF001 - RedisState's one guarded entry

    async def admit(self, owners: tuple[Owner, ...], ask: Ask) -> Admission:
        p = periods_at(self.clock())
        rid = os.urandom(12).hex()
        if not owners:
            return admission_for(owners, ask, p, rid, {})
        now_ms = int(p.now * 1000)
        ttl_ms = self.ttl_ms
        head = (
            f"{PREFIX}|{now_ms}|{now_ms + ttl_ms}|{rid}|{ask.tokens if ask.hold else 0}|"
            f"{nanos_up(ask.cost) if ask.hold else 0}|{int(ask.hold)}|{ttl_ms + 60_000}|{p.minute}|{p.day}|{p.month}"
        )
        out = await self._run(_ADMIT, [head, *map(_owner_arg, owners)])
        counts = [Counts(requests=int(out[3 + 2 * i]), tokens=int(out[4 + 2 * i])) for i in range(len(owners))]
        headers = rate_headers(owners, counts, p.minute_reset_s)
        if out[0] != 1:
            raise refusal(owners[int(out[2]) - 1], CHECKED[int(out[1]) - 1], p, headers)
        return admission_for(owners, ask, p, rid, headers)

    async def settle(self, admission: Admission, *, tokens: int, cost: Decimal) -> tuple[Spend, ...]:
        if not admission.owners:
            return ()
        p = periods_at(self.clock())
        day_keep = _keep_ms(admission.day == p.day, p.day_keep_s())
        month_keep = _keep_ms(admission.month == p.month, p.month_keep_s())
        head = (
            f"{PREFIX}|{admission.id}|{self.ttl_ms + 60_000}|{tokens - held_tokens(admission)}|{nanos_up(cost)}|"
            f"{day_keep}|{month_keep}|{admission.minute}|{admission.day}|{admission.month}"
        )
        out = await self._run(_SETTLE, [head, *(o.ref for o in admission.owners)])
        return tuple(
            Spend(owner=o, day_usd=usd(int(out[2 * i])), month_usd=usd(int(out[2 * i + 1])))
            for i, o in enumerate(admission.owners)
        )

    async def usage(self, owner: Owner) -> OwnerUsage:
        p = periods_at(self.clock())
        out = await self._run(_USAGE, [f"{PREFIX}|{int(p.now * 1000)}|{p.minute}|{p.day}|{p.month}|{owner.ref}"])
        r, t, live, held, day, month = (int(v) for v in out)
        return OwnerUsage(
            owner=owner,
            requests_this_minute=r,
            tokens_this_minute=t,
            in_flight=live,
            spent_today_usd=usd(day),
            spent_this_month_usd=usd(month),
            reserved_usd=usd(held),
            minute_resets_in_s=p.minute_reset_s,
            exact=True,
        )

    async def aclose(self) -> None:
        """Its own connection (the redis-py ones are the RedisState's: the gateway state closes it)."""
        if self.client is not None:
            await self.client.aclose()


def _keep_ms(current: bool, keep_s: int) -> int:
    """A period's spend key lives to the period's end + a margin; one settled after its
    period ended (a request across midnight) needs only the margin."""
    return (keep_s if current else PERIOD_MARGIN_S) * 1000
