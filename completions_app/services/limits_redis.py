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
Numbers reach Redis's integer commands as the caller's strings: Lua would print a large
number as 1e+15, which INCRBY refuses.

Redis errors and timeouts surface as shared_state.StateUnavailable (RedisState marks Redis
down for a moment); limits.FallbackLimiter then answers from this process.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import redis
import redis.asyncio as aredis

from .limit_types import Admission, Ask, Owner, OwnerUsage, Spend
from .limits import (
    CHECKED,
    PERIOD_MARGIN_S,
    Clock,
    Counts,
    Periods,
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
from .redis_state import PREFIX, RedisState

KEYS_PER_OWNER = 5

# Drop the expired reservations of one owner (at most 500 per call: Lua's unpack has a limit).
_PURGE = """
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

# KEYS: per owner minute, day, month, exp, res.
# ARGV: now_ms, expiry_ms, id, tokens, cost, hold (1/0), keep_ms (reservation keys' TTL),
#       then per owner rpm, tpm, concurrency, budget_day, budget_month (-1: none).
# Returns {fits (1/0), limit code (1..5, CHECKED order), owner (1-based), then per owner
# requests and tokens this minute (after counting, when it fits)}.
ADMIT = (
    _PURGE
    + """
local now, tokens, cost = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5])
local hold = ARGV[6] == '1'
local n = #KEYS / 5
local out = {1, 0, 0}
for i = 0, n - 1 do
  local k, a = i * 5, 8 + i * 5
  local rt = redis.call('HMGET', KEYS[k + 1], 'r', 't')
  local r, t = tonumber(rt[1]) or 0, tonumber(rt[2]) or 0
  out[4 + 2 * i], out[5 + 2 * i] = r, t
  if out[2] == 0 then
    local rpm, tpm, conc = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local bday, bmonth = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    local over = 0
    if rpm >= 0 and r + 1 > rpm then over = 1
    elseif tpm >= 0 and t + tokens > tpm then over = 2
    elseif hold then
      purge(KEYS[k + 4], KEYS[k + 5], now)
      if conc >= 0 and redis.call('ZCARD', KEYS[k + 4]) + 1 > conc then over = 3
      elseif bday >= 0 or bmonth >= 0 then
        local held = tonumber(redis.call('HGET', KEYS[k + 5], '_held')) or 0
        if bday >= 0 and (tonumber(redis.call('GET', KEYS[k + 2])) or 0) + held + cost > bday then over = 4
        elseif bmonth >= 0 and (tonumber(redis.call('GET', KEYS[k + 3])) or 0) + held + cost > bmonth then over = 5
        end
      end
    end
    if over > 0 then out[1], out[2], out[3] = 0, over, i + 1 end
  end
end
if out[1] == 0 then return out end
for i = 0, n - 1 do
  local k = i * 5
  out[4 + 2 * i] = redis.call('HINCRBY', KEYS[k + 1], 'r', 1)
  if tokens > 0 then out[5 + 2 * i] = redis.call('HINCRBY', KEYS[k + 1], 't', ARGV[4]) end
  redis.call('PEXPIRE', KEYS[k + 1], 120000)
  if hold then
    redis.call('ZADD', KEYS[k + 4], ARGV[2], ARGV[3])
    redis.call('HSET', KEYS[k + 5], ARGV[3], ARGV[5])
    if cost > 0 then redis.call('HINCRBY', KEYS[k + 5], '_held', ARGV[5]) end
    redis.call('PEXPIRE', KEYS[k + 4], ARGV[7])
    redis.call('PEXPIRE', KEYS[k + 5], ARGV[7])
  end
end
return out
"""
)

# KEYS: the done marker, then per owner minute (the admission's), day, month, exp, res.
# ARGV: id, marker_ms, token delta, cost, day_keep_ms, month_keep_ms.
# Returns per owner the day's and the month's settled nano-dollars (strings).
SETTLE = """
local first = redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2])
local delta, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
local n = (#KEYS - 1) / 5
local out = {}
for i = 0, n - 1 do
  local k = 1 + i * 5
  if first then
    local c = redis.call('HGET', KEYS[k + 5], ARGV[1])
    if c then
      if c ~= '0' then redis.call('HINCRBY', KEYS[k + 5], '_held', '-' .. c) end
      redis.call('HDEL', KEYS[k + 5], ARGV[1])
      redis.call('ZREM', KEYS[k + 4], ARGV[1])
    end
    if delta ~= 0 and redis.call('EXISTS', KEYS[k + 1]) == 1 then
      if redis.call('HINCRBY', KEYS[k + 1], 't', ARGV[3]) < 0 then redis.call('HSET', KEYS[k + 1], 't', '0') end
    end
    if cost > 0 then
      redis.call('INCRBY', KEYS[k + 2], ARGV[4])
      redis.call('PEXPIRE', KEYS[k + 2], ARGV[5])
      redis.call('INCRBY', KEYS[k + 3], ARGV[4])
      redis.call('PEXPIRE', KEYS[k + 3], ARGV[6])
    end
  end
  out[1 + 2 * i] = redis.call('GET', KEYS[k + 2]) or '0'
  out[2 + 2 * i] = redis.call('GET', KEYS[k + 3]) or '0'
end
return out
"""

# KEYS: one owner's minute, day, month, exp, res. ARGV: now_ms.
# Returns requests, tokens, live reservations, held, day, month.
USAGE = (
    _PURGE
    + """
purge(KEYS[4], KEYS[5], ARGV[1])
local rt = redis.call('HMGET', KEYS[1], 'r', 't')
return {rt[1] or '0', rt[2] or '0', redis.call('ZCARD', KEYS[4]), redis.call('HGET', KEYS[5], '_held') or '0',
        redis.call('GET', KEYS[2]) or '0', redis.call('GET', KEYS[3]) or '0'}
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


def _owner_keys(ref: str, minute: int, day: str, month: str) -> list[str]:
    base = f"{PREFIX}lim:{ref}:"
    return [f"{base}m:{minute}", f"{base}d:{day}", f"{base}M:{month}", f"{base}exp", f"{base}res"]


class RedisLimiter:
    def __init__(self, state: RedisState, *, clock: Clock = time.time) -> None:
        self.state = state  # its connection pool, timeouts and down-marking
        self.clock = clock

    async def _run(self, script: _Script, keys: Sequence[str], args: Sequence[object]) -> list:
        sha = _SHAS[script]

        async def call(r: aredis.Redis) -> list:
            try:
                return await r.evalsha(sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                return await r.eval(script.text, len(keys), *keys, *args)  # and Redis caches it

        return await self.state._call(call)  # noqa: SLF001 - RedisState's one guarded entry

    async def admit(self, owners: tuple[Owner, ...], ask: Ask) -> Admission:
        p = periods_at(self.clock())
        rid = uuid.uuid4().hex
        if not owners:
            return admission_for(owners, ask, p, rid, {})
        now_ms = int(p.now * 1000)
        ttl_ms = int(reservation_ttl_s() * 1000)
        tokens = ask.tokens if ask.hold else 0
        cost = nanos_up(ask.cost) if ask.hold else 0
        keys: list[str] = []
        args: list[object] = [now_ms, now_ms + ttl_ms, rid, tokens, cost, int(ask.hold), ttl_ms + 60_000]
        for owner in owners:
            keys += _owner_keys(owner.ref, p.minute, p.day, p.month)
            args += limit_args(owner)
        out = await self._run(_ADMIT, keys, args)
        counts = [Counts(requests=int(out[3 + 2 * i]), tokens=int(out[4 + 2 * i])) for i in range(len(owners))]
        headers = rate_headers(owners, counts, p.minute_reset_s)
        if out[0] != 1:
            raise refusal(owners[int(out[2]) - 1], CHECKED[int(out[1]) - 1], p, headers)
        return admission_for(owners, ask, p, rid, headers)

    async def settle(self, admission: Admission, *, tokens: int, cost: Decimal) -> tuple[Spend, ...]:
        if not admission.owners:
            return ()
        p = periods_at(self.clock())
        keys = [f"{PREFIX}lim:done:{admission.id}"]
        for owner in admission.owners:
            keys += _owner_keys(owner.ref, admission.minute, admission.day, admission.month)
        args = [
            admission.id,
            int((reservation_ttl_s() + 60) * 1000),
            tokens - held_tokens(admission),
            nanos_up(cost),
            _keep_ms(p, admission.day == p.day, p.day_keep_s()),
            _keep_ms(p, admission.month == p.month, p.month_keep_s()),
        ]
        out = await self._run(_SETTLE, keys, args)
        return tuple(
            Spend(owner=o, day_usd=usd(int(out[2 * i])), month_usd=usd(int(out[2 * i + 1])))
            for i, o in enumerate(admission.owners)
        )

    async def usage(self, owner: Owner) -> OwnerUsage:
        p = periods_at(self.clock())
        out = await self._run(_USAGE, _owner_keys(owner.ref, p.minute, p.day, p.month), [int(p.now * 1000)])
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
        """Nothing of its own: the connections are the RedisState's (the gateway state closes it)."""


def _keep_ms(p: Periods, current: bool, keep_s: int) -> int:
    """A period's spend key lives to the period's end + a margin; one settled after its
    period ended (a request across midnight) needs only the margin."""
    return (keep_s if current else PERIOD_MARGIN_S) * 1000
