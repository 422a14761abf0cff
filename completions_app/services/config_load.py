"""`loadconfig`: validate a YAML config fully (config_checks.py), then upsert it in one transaction.

It spans both apps (providers, keys, models and prices; teams, client keys and their
limits), so it lives in the upper one: completions_app imports providers_app, never the
reverse.

Validation runs before any write, so a file with an error changes nothing; the
error names the entry and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from completions_app.models import ClientKey, Team
from providers_app.models import Model, ModelFallback, ModelPrice, Provider, ProviderKey
from providers_app.prices import price_history_record

from .client_keys import client_key_create, client_key_hash
from .config_checks import ConfigError, config_validate

__all__ = ["ConfigError", "LoadSummary", "config_load"]


@dataclass
class LoadSummary:
    providers: int = 0
    keys: int = 0
    models: int = 0
    clients: int = 0
    teams: int = 0
    notes: list[str] = field(default_factory=list)


@transaction.atomic
def config_load(*, data: Any) -> LoadSummary:
    """Upsert providers, keys, models, prices, fallbacks, teams and client keys. Idempotent."""
    cfg = config_validate(data)
    summary = LoadSummary()
    for p in cfg["providers"]:
        provider, _ = Provider.objects.update_or_create(
            name=p["name"],
            defaults={
                "kind": p["kind"],
                "base_url": p["base_url"],
                "timeout_s": p["timeout_s"],
                "enabled": p["enabled"],
            },
        )
        summary.providers += 1
        for k in p["keys"]:
            key = ProviderKey.objects.filter(provider=provider, label=k["label"]).first() or ProviderKey(
                provider=provider, label=k["label"]
            )
            if key.pk is None or key.secret != k["secret"]:
                key.set_secret(k["secret"])
            key.weight, key.enabled = k["weight"], k["enabled"]
            key.save()
            summary.keys += 1
    for m in cfg["models"]:
        fields = {k: v for k, v in m.items() if k not in ("name", "provider", "fallbacks")}
        model, _ = Model.objects.update_or_create(
            name=m["name"], defaults={**fields, "provider": Provider.objects.get(name=m["provider"])}
        )
        price_history_record(model, source=ModelPrice.Source.LOADCONFIG)
        summary.models += 1
        if not model.priced:
            summary.notes.append(f"model {model.name} has no price and is not marked free: it will not serve")
    for m in cfg["models"]:
        model = Model.objects.get(name=m["name"])
        ModelFallback.objects.filter(model=model).delete()
        for pos, fname in enumerate(m["fallbacks"]):
            ModelFallback.objects.create(model=model, fallback=Model.objects.get(name=fname), position=pos)
    for t in cfg["teams"]:
        Team.objects.update_or_create(name=t["name"], defaults=t["limits"])
        summary.teams += 1
    for c in cfg["clients"]:
        existing = ClientKey.objects.filter(name=c["name"]).first()
        if existing and existing.key_hash == client_key_hash(c["key"]):
            existing.allowed_models.set(Model.objects.filter(name__in=c["models"]))
        else:
            existing, _ = client_key_create(name=c["name"], plaintext=c["key"], model_names=c["models"])
        team = Team.objects.get(name=c["team"]) if c["team"] else None
        ClientKey.objects.filter(pk=existing.pk).update(team=team, **c["limits"])
        summary.clients += 1
    return summary
