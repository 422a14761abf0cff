"""An in-process snapshot of the enabled providers, keys and models.

The hot path never touches the ORM: it reads this snapshot, which is
reloaded in the background when older than CATALOG_TTL_S (admin edits reach
requests within that many seconds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import TextField
from django.db.models.functions import Cast

from providers_app.crypto import secret_decrypt
from providers_app.errors import ModelNotFound
from providers_app.models import Model, ModelFallback, Provider, ProviderKey

from .cost import Prices
from .db import db_run

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeyEntry:
    id: int
    label: str
    secret: str = field(repr=False)
    weight: int


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    id: int
    name: str
    kind: str
    base_url: str
    timeout_s: float
    keys: tuple[KeyEntry, ...]


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: int
    name: str
    upstream_model: str
    provider: ProviderEntry
    prices: Prices
    fallbacks: tuple[str, ...]
    max_output_tokens: int | None
    cache_shared: bool = False  # the response cache is shared across client keys
    json_schema_via_tool: bool = False  # anthropic: json_schema sent as a forced tool (Model.json_schema_via_tool)
    mode: str = "chat"  # Model.Mode: "chat" | "embedding" (which routes may ask for it)


@dataclass(frozen=True, slots=True)
class Catalog:
    models: dict[str, ModelEntry]
    providers: dict[str, ProviderEntry]
    loaded_at: float
    # Enabled models left out because they have no price and are not free: a request for one is
    # told why (model_missing) instead of "unknown model".
    unpriced: frozenset[str] = frozenset()


FREE = Prices(input=Decimal(0), output=Decimal(0), cache_read=Decimal(0), cache_write=Decimal(0))


def model_prices(m: Model) -> Prices | None:
    """The prices a model serves at: all 0 when free; None (it does not serve) when its input or
    output price is not set. Empty cache prices are the input price."""
    if m.free:
        return FREE
    if m.input_per_mtok is None or m.output_per_mtok is None:
        return None
    return Prices(
        input=m.input_per_mtok,
        output=m.output_per_mtok,
        cache_read=m.cache_read_per_mtok if m.cache_read_per_mtok is not None else m.input_per_mtok,
        cache_write=m.cache_write_per_mtok if m.cache_write_per_mtok is not None else m.input_per_mtok,
        cache_write_1h=m.cache_write_1h_per_mtok,
    )


def model_missing(catalog: Catalog, name: str) -> ModelNotFound:
    """The error for a model name the catalog does not serve: unknown, or known but without a price."""
    if name in catalog.unpriced:
        return ModelNotFound(
            f"Model {name!r} has no price set, so it cannot serve: an admin must set its input and output "
            "prices, or mark it free.",
            field="model",
        )
    return ModelNotFound(f"Unknown model {name[:200]!r}.", field="model")


def catalog_load(*, previous: Catalog | None = None) -> Catalog:
    """Read the catalog from the database (sync; runs in a worker thread). `previous`, the
    snapshot it replaces: an unpriced model is logged when it becomes one, not at every reload."""
    providers: dict[str, ProviderEntry] = {}
    by_id: dict[int, ProviderEntry] = {}
    keys_by_provider: dict[int, list[KeyEntry]] = {}
    # The ciphertext is read as plain text and decrypted key by key, so one key
    # that cannot be decrypted (FIELD_ENCRYPTION_KEY changed) is left out alone.
    rows = (
        ProviderKey.objects.filter(enabled=True, provider__enabled=True)
        .annotate(ciphertext=Cast("secret", TextField()))
        .values_list("id", "provider_id", "label", "weight", "ciphertext")
        .order_by("id")
    )
    for key_id, provider_id, label, weight, ciphertext in rows:
        try:
            secret = secret_decrypt(ciphertext)
        except ValueError:
            log.error("provider key %s (id %s) cannot be decrypted; left out", label, key_id)
            continue
        keys_by_provider.setdefault(provider_id, []).append(
            KeyEntry(id=key_id, label=label, secret=secret, weight=weight)
        )
    for p in Provider.objects.filter(enabled=True):
        entry = ProviderEntry(
            id=p.id,
            name=p.name,
            kind=p.kind,
            base_url=p.base_url,
            timeout_s=p.timeout_s,
            keys=tuple(keys_by_provider.get(p.id, ())),
        )
        providers[p.name] = entry
        by_id[p.id] = entry
    fallbacks: dict[int, list[str]] = {}
    for link in ModelFallback.objects.select_related("fallback").order_by("model_id", "position", "id"):
        fallbacks.setdefault(link.model_id, []).append(link.fallback.name)
    models: dict[str, ModelEntry] = {}
    unpriced: set[str] = set()
    for m in Model.objects.filter(enabled=True, provider__enabled=True):
        prices = model_prices(m)
        if prices is None:
            # Serving it would record a cost of nothing for tokens someone pays for.
            if previous is None or m.name not in previous.unpriced:
                log.warning("model %s has no price and is not marked free; left out (it will not serve)", m.name)
            unpriced.add(m.name)
            continue
        models[m.name] = ModelEntry(
            id=m.id,
            name=m.name,
            upstream_model=m.upstream_model,
            provider=by_id[m.provider_id],
            prices=prices,
            fallbacks=tuple(fallbacks.get(m.id, ())),
            max_output_tokens=m.max_output_tokens,
            cache_shared=m.cache_shared,
            json_schema_via_tool=m.json_schema_via_tool,
            mode=m.mode,
        )
    return Catalog(models=models, providers=providers, loaded_at=time.monotonic(), unpriced=frozenset(unpriced))


class _CatalogCache:
    def __init__(self) -> None:
        self.current: Catalog | None = None
        self._refresh: asyncio.Task | None = None

    async def get(self) -> Catalog:
        current = self.current
        if current is None:
            # Concurrent first requests may each load once; harmless, and no
            # lock to tie this object to one event loop.
            current = self.current = await db_run(catalog_load)
            return current
        if time.monotonic() - current.loaded_at > settings.CATALOG_TTL_S and (
            self._refresh is None or self._refresh.done()
        ):
            # Serve the snapshot we have; reload beside the request.
            self._refresh = asyncio.get_running_loop().create_task(self._reload())
        return current

    async def _reload(self) -> None:
        try:
            previous = self.current
            self.current = await db_run(lambda: catalog_load(previous=previous))
        except Exception:
            log.exception("catalog reload failed; serving the previous snapshot")

    def invalidate(self) -> None:
        self.current = None


_cache = _CatalogCache()


async def catalog_get() -> Catalog:
    return await _cache.get()


def catalog_has_model(name: str) -> bool:
    """Whether the current snapshot knows this model name: it serves it, or left it out for want
    of a price (an admin's name either way, so a bounded label). No I/O; False before the first load."""
    current = _cache.current
    return current is not None and (name in current.models or name in current.unpriced)


def catalog_invalidate() -> None:
    """Drop the snapshot; the next request reloads it (tests, admin actions)."""
    _cache.invalidate()
