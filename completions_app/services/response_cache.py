"""The response cache: deterministic requests only, keyed by a SHA-256 of a
canonical encoding of everything that shapes the output.

Backend: Redis when configured (shared by replicas), else an in-process LRU.
A Redis failure is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass

from django.conf import settings

from providers_app.adapters.types import Usage

from .redis_state import PREFIX, RedisUnavailable, redis_call
from .types import CompletionInput

KEY_VERSION = 1
LOCAL_MAX_ENTRIES = 10_000


def cacheable(inp: CompletionInput) -> bool:
    """Only temperature-0 requests are deterministic enough to replay."""
    return inp.cache and inp.temperature is not None and inp.temperature == 0


def cache_key(inp: CompletionInput) -> str:
    """SHA-256 over sorted-key JSON: no two different requests can collide by
    concatenation, and field order in the request does not matter."""
    canonical = {
        "v": KEY_VERSION,
        "model": inp.model,
        "messages": [[m.role, m.content] for m in inp.messages],
        "max_tokens": inp.max_tokens,
        "temperature": inp.temperature,
        "top_p": inp.top_p,
        "stop": list(inp.stop),
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(slots=True)
class CachedAnswer:
    text: str
    chunks: list[str]  # as streamed, so a hit can replay a stream
    finish_reason: str | None
    usage: Usage
    served_model: str
    provider: str
    cost_usd: str  # what the original call cost: the saving of every hit

    def dumps(self) -> str:
        data = asdict(self)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | bytes) -> CachedAnswer:
        data = json.loads(raw)
        data["usage"] = Usage(**data["usage"])
        return cls(**data)


class ResponseCache:
    def __init__(self) -> None:
        self._local: OrderedDict[str, tuple[float, str]] = OrderedDict()

    @staticmethod
    def _rkey(key: str) -> str:
        return f"{PREFIX}resp:{key}"

    async def get(self, key: str) -> CachedAnswer | None:
        if settings.REDIS_URL:
            try:
                raw = await redis_call(lambda r: r.get(self._rkey(key)))
            except RedisUnavailable:
                return None
            return CachedAnswer.loads(raw) if raw else None
        entry = self._local.get(key)
        if entry is None:
            return None
        expires, raw = entry
        if expires < time.monotonic():
            self._local.pop(key, None)
            return None
        self._local.move_to_end(key)
        return CachedAnswer.loads(raw)

    async def set(self, key: str, answer: CachedAnswer) -> None:
        raw = answer.dumps()
        ttl = settings.CACHE_TTL
        if settings.REDIS_URL:
            try:
                await redis_call(lambda r: r.set(self._rkey(key), raw, ex=ttl))
            except RedisUnavailable:
                pass
            return
        self._local[key] = (time.monotonic() + ttl, raw)
        self._local.move_to_end(key)
        while len(self._local) > LOCAL_MAX_ENTRIES:
            self._local.popitem(last=False)

    def clear_local(self) -> None:
        self._local.clear()


response_cache = ResponseCache()
