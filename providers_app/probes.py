"""Provider probes: one cheap authenticated call (list models) per enabled key, results on the rows.

A failing key is a result, not an error: it is recorded as unhealthy with the error's
safe message (providers_app.errors messages never hold a secret), and disabled after
PROBE_DISABLE_AFTER consecutive failures when that is set. The provider's health is
the aggregate of its keys': usable while any key answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F, Prefetch
from django.utils import timezone

from providers_app.errors import GatewayError

from .adapters.registry import adapter_create
from .models import Provider, ProviderKey

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
# Beyond the adapter's own timeout: a probe never holds the task longer than this.
DEADLINE_MARGIN_S = 5.0


@dataclass(frozen=True)
class ProbeTarget:
    provider_id: int
    provider_name: str
    kind: str
    base_url: str | None
    timeout_s: float
    key_id: int | None = None  # None: a keyless (ollama) provider
    key_label: str = ""
    # repr=False: a target may end up in a log line or a traceback.
    api_key: str | None = field(default=None, repr=False)
    setup_error: str = ""  # set when the key cannot even be read (e.g. undecryptable secret)


@dataclass(frozen=True)
class ProbeResult:
    target: ProbeTarget
    ok: bool
    latency_ms: float | None
    error: str = ""  # safe to store and show: "code: message"


def probe_targets_select(*, provider_ids: Iterable[int] | None = None) -> list[ProbeTarget]:
    """Every enabled key of every enabled provider; ollama providers without an enabled key, keyless."""
    # Secrets deferred: each is decrypted on access, so one undecryptable key (after a
    # FIELD_ENCRYPTION_KEY change) is reported on its own instead of failing the whole run.
    keys_qs = ProviderKey.objects.defer("secret").order_by("id")
    providers = (
        Provider.objects.filter(enabled=True).prefetch_related(Prefetch("keys", queryset=keys_qs)).order_by("name")
    )
    if provider_ids is not None:
        providers = providers.filter(pk__in=list(provider_ids))
    targets: list[ProbeTarget] = []
    for p in providers:
        common = {
            "provider_id": p.pk,
            "provider_name": p.name,
            "kind": p.kind,
            "base_url": p.base_url or None,
            "timeout_s": p.timeout_s,
        }
        keys = [k for k in p.keys.all() if k.enabled]
        if not keys and p.kind == Provider.Kind.OLLAMA:  # the router serves it keyless too
            targets.append(ProbeTarget(**common))
        for k in keys:
            try:
                secret, setup_error = k.secret, ""
            except ValueError as exc:  # the decrypt error says what to fix and holds no secret
                secret, setup_error = None, str(exc)
            targets.append(
                ProbeTarget(**common, key_id=k.pk, key_label=k.label, api_key=secret, setup_error=setup_error)
            )
    return targets


async def _probe_one(target: ProbeTarget, limit: asyncio.Semaphore) -> ProbeResult:
    if target.setup_error:
        return ProbeResult(target=target, ok=False, latency_ms=None, error=f"config_error: {target.setup_error}")
    async with limit:
        # A fresh adapter per probe: it lives on this task's own event loop and dies with it.
        adapter = adapter_create(
            kind=target.kind, base_url=target.base_url, api_key=target.api_key, timeout_s=target.timeout_s
        )
        started = time.perf_counter()
        try:
            await asyncio.wait_for(adapter.list_models(), timeout=target.timeout_s + DEADLINE_MARGIN_S)
        except GatewayError as exc:
            return ProbeResult(target=target, ok=False, latency_ms=None, error=f"{exc.code}: {exc.message}"[:300])
        except TimeoutError:
            return ProbeResult(target=target, ok=False, latency_ms=None, error="upstream_timeout: no answer in time")
        except Exception as exc:
            # Adapters classify every SDK error; anything else is a bug. Its text may embed
            # request details, so only the type is kept.
            log.warning("probe of %s/%s raised %s", target.provider_name, target.key_label, type(exc).__name__)
            return ProbeResult(target=target, ok=False, latency_ms=None, error=f"internal_error: {type(exc).__name__}")
        finally:
            try:
                await adapter.aclose()
            except Exception:
                log.warning("closing the probe adapter of %s failed", target.provider_name)
        return ProbeResult(target=target, ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 3))


async def probes_run(targets: list[ProbeTarget], *, concurrency: int = DEFAULT_CONCURRENCY) -> list[ProbeResult]:
    limit = asyncio.Semaphore(max(1, concurrency))
    return list(await asyncio.gather(*(_probe_one(t, limit) for t in targets)))


def probe_results_record(
    results: list[ProbeResult], *, disable_after: int = 0, provider_ids: list[int] | None = None
) -> list[str]:
    """Write results on keys and providers; returns "provider/label" of keys disabled now.

    `provider_ids`: the providers that were in scope (None = all), for the no-key sweep.
    """
    now = timezone.now()
    disabled: list[str] = []
    by_provider: dict[int, list[ProbeResult]] = defaultdict(list)
    with transaction.atomic():
        for r in results:
            t = r.target
            by_provider[t.provider_id].append(r)
            if t.key_id is None:
                continue
            keys = ProviderKey.objects.filter(pk=t.key_id)
            # update() with F(): a concurrent probe run or admin edit of other fields is not overwritten.
            keys.update(
                healthy=r.ok,
                last_probe_at=now,
                last_probe_latency_ms=r.latency_ms,
                last_probe_error=r.error,
                consecutive_probe_failures=0 if r.ok else F("consecutive_probe_failures") + 1,
            )
            if not r.ok and disable_after > 0:
                n = keys.filter(enabled=True, consecutive_probe_failures__gte=disable_after).update(enabled=False)
                if n:
                    disabled.append(f"{t.provider_name}/{t.key_label}")
                    log.warning(
                        "provider key %s/%s disabled after %d failed probes (last: %s)",
                        t.provider_name,
                        t.key_label,
                        disable_after,
                        r.error,
                    )
        for provider_id, rs in by_provider.items():
            ok_latencies = [r.latency_ms for r in rs if r.ok and r.latency_ms is not None]
            Provider.objects.filter(pk=provider_id).update(
                healthy=bool(ok_latencies),
                last_probe_at=now,
                last_probe_latency_ms=round(sum(ok_latencies) / len(ok_latencies), 3) if ok_latencies else None,
            )
        # An enabled provider with no enabled key cannot serve anything: say so instead of
        # leaving an old "healthy" in place.
        keyless = Provider.objects.filter(enabled=True).exclude(pk__in=list(by_provider))
        if provider_ids is not None:
            keyless = keyless.filter(pk__in=provider_ids)
        keyless.update(healthy=False, last_probe_at=now, last_probe_latency_ms=None)
    return disabled


def providers_probe(*, provider_ids: Iterable[int] | None = None) -> dict[str, object]:
    """Probe, record, summarize. Sync: runs its own event loop (Celery tasks are sync)."""
    ids = list(provider_ids) if provider_ids is not None else None
    targets = probe_targets_select(provider_ids=ids)
    concurrency = int(getattr(settings, "PROBE_CONCURRENCY", DEFAULT_CONCURRENCY))
    results = asyncio.run(probes_run(targets, concurrency=concurrency)) if targets else []
    disable_after = int(getattr(settings, "PROBE_DISABLE_AFTER", 0))
    disabled = probe_results_record(results, disable_after=disable_after, provider_ids=ids)
    failed = [f"{r.target.provider_name}/{r.target.key_label or '-'}" for r in results if not r.ok]
    if failed:
        log.info("probes: %d of %d failed: %s", len(failed), len(results), ", ".join(failed))
    return {"probed": len(results), "healthy": len(results) - len(failed), "failed": failed, "disabled": disabled}
