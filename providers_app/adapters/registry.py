"""Which adapter serves which provider kind, and one long-lived adapter per provider key.

Adapters own an SDK client and its connection pool; creating one per request would
throw the pool away each time. `ClientPool` keeps one per key and replaces it only
when that key's configuration changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .base import ProviderAdapter
from .transport import DEFAULT_TRANSPORT

log = logging.getLogger(__name__)

# kind -> "module:class". Each adapter module imports its SDK (anthropic +77 MB of RSS,
# openai +49 MB, ollama +38 MB: bench/RESULTS.md), so a module is imported only when the
# first adapter of its kind is created: a gateway loads only the SDKs it is configured for.
ADAPTER_PATHS = {
    "anthropic": "providers_app.adapters.anthropic:AnthropicAdapter",
    "openai": "providers_app.adapters.openai:OpenAIAdapter",
    "ollama": "providers_app.adapters.ollama:OllamaAdapter",
}


class LazyAdapters(Mapping[str, type[ProviderAdapter]]):
    """kind -> adapter class, importing the adapter's module (and its SDK) on first look-up."""

    def __init__(self, paths: Mapping[str, str]) -> None:
        self._paths = dict(paths)

    def __getitem__(self, kind: str) -> type[ProviderAdapter]:
        module_name, _, class_name = self._paths[kind].partition(":")
        return getattr(importlib.import_module(module_name), class_name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


ADAPTERS: Mapping[str, type[ProviderAdapter]] = LazyAdapters(ADAPTER_PATHS)
SDK_KINDS = ("anthropic", "openai")  # the kinds on UPSTREAM_TRANSPORT (ollama's SDK has only httpx)


def _setting(name: str, fallback: Any) -> Any:
    from django.conf import settings  # imported late: adapters must work without Django set up

    try:
        return getattr(settings, name, fallback)
    except Exception:  # settings not configured (scripts, benchmarks)
        return fallback


def adapter_create(*, kind: str, base_url: str | None, api_key: str | None, timeout_s: float) -> ProviderAdapter:
    if kind not in ADAPTERS:
        raise ValueError(f"unknown provider kind {kind!r}; expected one of {sorted(ADAPTERS)}")
    cls = ADAPTERS[kind]
    extra: dict[str, Any] = {}
    if kind in SDK_KINDS:
        extra["transport"] = _setting("UPSTREAM_TRANSPORT", DEFAULT_TRANSPORT)
    if kind == "anthropic":
        fallback = importlib.import_module(cls.__module__).DEFAULT_MAX_TOKENS
        extra["default_max_tokens"] = int(_setting("DEFAULT_MAX_TOKENS", fallback))
    return cls(base_url=base_url, api_key=api_key, timeout_s=timeout_s, **extra)


async def adapters_warm(providers: Iterable[tuple[str, str | None, float]]) -> None:
    """Prepare what the first request of each (kind, base_url, timeout_s) would wait for: on
    the direct transport, the SDK-built request (capture.py, kept for every key alike)."""
    for kind, base_url, timeout_s in set(providers):
        if kind not in SDK_KINDS:  # the others have nothing to prepare (and load their SDK on first use)
            continue
        adapter = adapter_create(kind=kind, base_url=base_url, api_key=None, timeout_s=timeout_s)
        try:
            await adapter.warm()
        except Exception:  # the first request will try again, and report what fails
            log.warning("preparing the %s adapter failed", kind, exc_info=True)
        finally:
            await adapter.aclose()


def _fingerprint(kind: str, base_url: str | None, api_key: str | None, timeout_s: float) -> tuple[Any, ...]:
    # A hash, so the pool never holds a second copy of the secret in its keys.
    key_hash = hashlib.sha256((api_key or "").encode()).hexdigest()
    return (kind, base_url, key_hash, float(timeout_s))


class ClientPool:
    """One adapter per provider key id, reused across requests.

    When a key's config changes, the old adapter is retired: it is closed after
    `retire_grace_s`, so requests still running on it can finish.
    """

    def __init__(self, *, retire_grace_s: float = 120.0) -> None:
        self.retire_grace_s = retire_grace_s
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
        adapter = adapter_create(kind=kind, base_url=base_url, api_key=api_key, timeout_s=timeout_s)
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
