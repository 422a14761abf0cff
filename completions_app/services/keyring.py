"""Weighted round-robin over a provider's enabled keys, with 429 cooldowns.

With Redis the rotation counter and the cooldowns are shared by every replica
(one INCR + one MGET per request, pipelined); without it, or while Redis is
down, they are kept in this process.
"""

from __future__ import annotations

import itertools
import time

from django.conf import settings

from .catalog import KeyEntry, ProviderEntry
from .redis_state import PREFIX, RedisUnavailable, redis_call


def _slots(keys: tuple[KeyEntry, ...]) -> list[KeyEntry]:
    """Each key appears `weight` times, interleaved (a,b,a,b,a rather than a,a,a,b,b)."""
    if not keys:
        return []
    top = max(k.weight for k in keys)
    return [k for round_ in range(top) for k in keys if k.weight > round_]


class Keyring:
    def __init__(self) -> None:
        self._counters: dict[str, itertools.count] = {}
        self._cooling: dict[int, float] = {}  # key id -> monotonic time it may be used again

    @staticmethod
    def _rr_key(provider: ProviderEntry) -> str:
        return f"{PREFIX}rr:{provider.name}"

    @staticmethod
    def _cool_key(key_id: int) -> str:
        return f"{PREFIX}cool:{key_id}"

    def _cooling_here(self, key_ids: list[int]) -> set[int]:
        now = time.monotonic()
        return {i for i in key_ids if self._cooling.get(i, 0) > now}

    async def order(self, provider: ProviderEntry) -> tuple[list[KeyEntry], int]:
        """The keys to try, rotation's pick first, cooling keys left out.

        Returns (keys, number cooling)."""
        slots = _slots(provider.keys)
        if not slots:
            return [], 0
        ids = [k.id for k in provider.keys]
        cooling = self._cooling_here(ids)
        try:

            async def _shared(r):  # type: ignore[no-untyped-def]
                pipe = r.pipeline(transaction=False)
                pipe.incr(self._rr_key(provider))
                pipe.mget([self._cool_key(i) for i in ids])
                return await pipe.execute()

            n, flags = await redis_call(_shared)
            cooling |= {i for i, flag in zip(ids, flags, strict=True) if flag is not None}
        except RedisUnavailable:
            n = next(self._counters.setdefault(provider.name, itertools.count(1)))
        start = (int(n) - 1) % len(slots)
        ordered: list[KeyEntry] = []
        for k in slots[start:] + slots[:start]:
            if k.id not in cooling and k not in ordered:
                ordered.append(k)
        return ordered, len(cooling)

    async def cooldown(self, key: KeyEntry, retry_after: float | None) -> float:
        seconds = retry_after if retry_after and retry_after > 0 else settings.KEY_COOLDOWN_S
        seconds = min(seconds, 3600.0)
        self._cooling[key.id] = time.monotonic() + seconds
        try:
            await redis_call(lambda r: r.set(self._cool_key(key.id), "1", px=max(1, int(seconds * 1000))))
        except RedisUnavailable:
            pass
        return seconds

    async def cooling(self, key_ids: list[int]) -> set[int]:
        """Which of these keys are cooling down (here or, with Redis, anywhere)."""
        cooling = self._cooling_here(key_ids)
        if key_ids:
            try:
                flags = await redis_call(lambda r: r.mget([self._cool_key(i) for i in key_ids]))
                cooling |= {i for i, flag in zip(key_ids, flags, strict=True) if flag is not None}
            except RedisUnavailable:
                pass
        return cooling

    def reset(self) -> None:
        self._counters.clear()
        self._cooling.clear()


keyring = Keyring()
