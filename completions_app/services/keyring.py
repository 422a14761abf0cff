"""Weighted round-robin over a provider's enabled keys, with 429 cooldowns.

The rotation counter and the cooldowns live in the shared state: with Redis
they are shared by every replica (one INCR + one MGET per request, pipelined);
without it, or while Redis is down (shared_state.Fallback), they are kept in
this process. A cooldown's value is the epoch time it ends, so the same MGET
also says when the first cooling key is back (the gateway's Retry-After).
"""

from __future__ import annotations

import time
from typing import NamedTuple

from django.conf import settings

from .catalog import KeyEntry, ProviderEntry
from .shared_state import SharedState


def _slots(keys: tuple[KeyEntry, ...]) -> list[KeyEntry]:
    """Each key appears `weight` times, interleaved (a,b,a,b,a rather than a,a,a,b,b)."""
    if not keys:
        return []
    top = max(k.weight for k in keys)
    return [k for round_ in range(top) for k in keys if k.weight > round_]


def _cool_key(key_id: int) -> str:
    return f"cool:{key_id}"


def _ends_in(flags: list[str | None], now: float) -> float | None:
    """Seconds until the earliest of these cooldowns ends (None: none is cooling)."""
    ends: list[float] = []
    for flag in flags:
        if flag is not None:
            try:
                ends.append(float(flag))
            except ValueError:
                ends.append(now)  # a value without an end time: its TTL is unknown here
    return max(min(ends) - now, 0.0) if ends else None


class KeyOrder(NamedTuple):
    keys: list[KeyEntry]  # the keys to try, rotation's pick first, cooling keys left out
    cooling: int  # how many keys are cooling down
    wait_s: float | None  # seconds until the first cooling key is back (None: none is cooling)


class Keyring:
    def __init__(self, state: SharedState) -> None:
        self._state = state

    async def order(self, provider: ProviderEntry) -> KeyOrder:
        """The keys to try, rotation's pick first, cooling keys left out."""
        slots = _slots(provider.keys)
        if not slots:
            return KeyOrder([], 0, None)
        ids = [k.id for k in provider.keys]
        n, flags = await self._state.incr_mget(f"rr:{provider.name}", [_cool_key(i) for i in ids])
        cooling = {i for i, flag in zip(ids, flags, strict=True) if flag is not None}
        start = (n - 1) % len(slots)
        ordered: list[KeyEntry] = []
        for k in slots[start:] + slots[:start]:
            if k.id not in cooling and k not in ordered:
                ordered.append(k)
        return KeyOrder(ordered, len(cooling), _ends_in(flags, time.time()) if cooling else None)

    async def cooldown(self, key: KeyEntry, retry_after: float | None) -> float:
        """Cool the key for the provider's Retry-After (or KEY_COOLDOWN_S); returns the seconds."""
        seconds = retry_after if retry_after and retry_after > 0 else settings.KEY_COOLDOWN_S
        seconds = min(seconds, 3600.0)
        await self._state.set(_cool_key(key.id), repr(time.time() + seconds), ttl_s=seconds)
        return seconds

    async def cooling_ends(self, key_ids: list[int]) -> dict[int, float | None]:
        """The cooling keys of these, each with the epoch time its cooldown ends (None: unknown)."""
        flags = await self._state.mget([_cool_key(i) for i in key_ids])
        out: dict[int, float | None] = {}
        for i, flag in zip(key_ids, flags, strict=True):
            if flag is not None:
                try:
                    out[i] = float(flag)
                except ValueError:
                    out[i] = None
        return out

    async def cooling(self, key_ids: list[int]) -> set[int]:
        """Which of these keys are cooling down (anywhere, with Redis)."""
        flags = await self._state.mget([_cool_key(i) for i in key_ids])
        return {i for i, flag in zip(key_ids, flags, strict=True) if flag is not None}
