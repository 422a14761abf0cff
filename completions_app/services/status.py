"""Read-side views of the gateway: provider status and health."""

from __future__ import annotations

from django.db import connection

from providers_app.models import Model, ModelFallback, Provider

from .db import db_run
from .gateway_state import gateway_state
from .shared_state import StateUnavailable
from .types import ClientIdentity


def _visible_provider_ids(allowed_models: frozenset[str]) -> set[int]:
    """The providers behind these models and behind their fallbacks (where their requests may go)."""
    ids = set(Model.objects.filter(name__in=allowed_models).values_list("provider_id", flat=True))
    ids |= set(
        ModelFallback.objects.filter(model__name__in=allowed_models).values_list("fallback__provider_id", flat=True)
    )
    return ids


def _providers(allowed_models: frozenset[str] | None) -> list[dict]:
    rows = []
    providers = Provider.objects.prefetch_related("keys").order_by("name")
    if allowed_models is not None:
        providers = providers.filter(id__in=_visible_provider_ids(allowed_models))
    for p in providers:
        keys = list(p.keys.all())
        rows.append(
            {
                "name": p.name,
                "kind": p.kind,
                "enabled": p.enabled,
                "healthy": p.healthy,
                "last_probe_at": p.last_probe_at.isoformat() if p.last_probe_at else None,
                "last_probe_latency_ms": p.last_probe_latency_ms,
                "keys": [
                    {
                        "label": k.label,
                        "enabled": k.enabled,
                        "healthy": k.healthy,
                        "last_probe_latency_ms": k.last_probe_latency_ms,
                        "id": k.id,
                    }
                    for k in keys
                ],
                "timeout_s": p.timeout_s,
            }
        )
    return rows


async def provider_status_list(client: ClientIdentity) -> list[dict]:
    """Per provider this client may reach (an unrestricted key: all; one restricted to some
    models: the providers of those models and of their fallbacks): breaker state,
    consecutive failures, keys enabled/cooling, probe health. No secret."""
    state = gateway_state()
    out = []
    for row in await db_run(lambda: _providers(client.allowed_models)):
        breaker = state.board.get(row["name"], timeout_s=row.pop("timeout_s"))
        await breaker.refresh()  # what every replica sees, not this one's last snapshot
        enabled_keys = [k for k in row["keys"] if k["enabled"]]
        cooling = await state.keyring.cooling([k["id"] for k in enabled_keys])
        for k in row["keys"]:
            del k["id"]
        out.append(
            {
                **row,
                "state": breaker.state,
                "failures": breaker.failures,
                "keys_enabled": len(enabled_keys),
                "keys_cooling": len(cooling),
            }
        )
    return out


def _db_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


async def health_check() -> dict:
    """Database and cache reachability; status "ok" or "degraded"."""
    db = await db_run(_db_ok)
    try:
        cache_ok = await gateway_state().shared.ping()  # in-process: always True
    except StateUnavailable:
        cache_ok = False
    return {"status": "ok" if db and cache_ok else "degraded", "database": db, "cache": cache_ok}
