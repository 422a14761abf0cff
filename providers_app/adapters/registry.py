"""Which adapter serves which provider kind, and one long-lived adapter per provider key.

Adapters own a connection pool; creating one per request would throw the pool away each
time. `ClientPool` keeps one per key and replaces it only when that key's configuration
changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

from .anthropic import AnthropicAdapter
from .base import ProviderAdapter
from .ollama import OllamaAdapter
from .openai import OpenAIAdapter

log = logging.getLogger(__name__)

ADAPTERS: dict[str, type[ProviderAdapter]] = {a.kind: a for a in (AnthropicAdapter, OpenAIAdapter, OllamaAdapter)}


def adapter_create(
    *, kind: str, base_url: str | None, api_key: str | None, timeout_s: float, default_max_tokens: int | None = None
) -> ProviderAdapter:
    if kind not in ADAPTERS:
        raise ValueError(f"unknown provider kind {kind!r}; expected one of {sorted(ADAPTERS)}")
    if kind == "anthropic" and default_max_tokens is not None:
        return AnthropicAdapter(
            base_url=base_url, api_key=api_key, timeout_s=timeout_s, default_max_tokens=default_max_tokens
        )
    return ADAPTERS[kind](base_url=base_url, api_key=api_key, timeout_s=timeout_s)


def _fingerprint(kind: str, base_url: str | None, api_key: str | None, timeout_s: float) -> tuple[Any, ...]:
    # A hash, so the pool never holds a second copy of the secret in its keys.
    key_hash = hashlib.sha256((api_key or "").encode()).hexdigest()
    return (kind, base_url, key_hash, float(timeout_s))


class ClientPool:
    """One adapter per provider key id, reused across requests.

    When a key's config changes, the old adapter is retired: it is closed after
    `retire_grace_s`, so requests still running on it can finish.
    """

    def __init__(self, *, retire_grace_s: float = 120.0, default_max_tokens: int | None = None) -> None:
        self.retire_grace_s = retire_grace_s
        self.default_max_tokens = default_max_tokens  # Anthropic's, when a request sets none
        self._adapters: dict[str, tuple[tuple[Any, ...], ProviderAdapter]] = {}
        self._retired: set[ProviderAdapter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(
        self, key_id: str, *, kind: str, base_url: str | None, api_key: str | None, timeout_s: float
    ) -> ProviderAdapter:
        # Sync and without awaits: nothing can interleave between the lookup and the store.
        fingerprint = _fingerprint(kind, base_url, api_key, timeout_s)
        current = self._adapters.get(key_id)
        if current is not None and current[0] == fingerprint:
            return current[1]
        adapter = adapter_create(
            kind=kind,
            base_url=base_url,
            api_key=api_key,
            timeout_s=timeout_s,
            default_max_tokens=self.default_max_tokens,
        )
        self._adapters[key_id] = (fingerprint, adapter)
        if current is not None:
            self._retire(current[1])
        return adapter

    def __len__(self) -> int:
        return len(self._adapters)

    def _retire(self, adapter: ProviderAdapter) -> None:
        self._retired.add(adapter)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: aclose_all() will close it
        task = loop.create_task(self._close_later(adapter))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_later(self, adapter: ProviderAdapter) -> None:
        if self.retire_grace_s > 0:
            await asyncio.sleep(self.retire_grace_s)
        if adapter in self._retired:  # not already closed by aclose_all()
            self._retired.discard(adapter)
            await _close_quietly(adapter)

    async def aclose_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        adapters = [a for _, a in self._adapters.values()] + list(self._retired)
        self._adapters.clear()
        self._retired.clear()
        for adapter in adapters:
            await _close_quietly(adapter)


async def _close_quietly(adapter: ProviderAdapter) -> None:
    try:
        await adapter.aclose()
    except Exception:
        log.warning("closing a %s adapter failed", adapter.kind, exc_info=True)
