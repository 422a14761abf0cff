"""The `loadconfig` YAML checked whole and normalized (config_validate), before anything is written:
each error names the entry and the field (ConfigError). config_load.py writes what this returns.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from completions_app.models import ClientKey, Team
from providers_app.models import Model, Provider, base_url_validate, mode_named

from .limit_types import LIMIT_NAMES

ENV_PREFIX = "os.environ/"
KINDS = {k.value for k in Provider.Kind}
MODES = {m.value for m in Model.Mode}


class ConfigError(ValueError):
    pass


def _resolve(value: Any, where: str) -> str:
    """A literal, or `os.environ/NAME` read from the environment."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: must be a non-empty string")
    if value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        resolved = os.environ.get(name)
        if not resolved:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return resolved
    return value


def _decimal(value: Any, where: str, *, optional: bool = False) -> Decimal | None:
    if value is None and optional:
        return None
    if isinstance(value, float):
        raise ConfigError(f'{where}: write prices as strings ("3.00"), not floats, to keep them exact')
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ConfigError(f"{where}: not a decimal number: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise ConfigError(f"{where}: must be a non-negative number")
    return d


def _base_url(value: Any, where: str) -> str:
    """Empty, or an http(s) URL without credentials: the admin's rule (base_url_validate)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be a string")
    try:
        base_url_validate(value)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {' '.join(exc.messages)}") from None
    return value


def _flag(entry: dict, name: str, where: str, *, default: bool) -> bool:
    value = entry.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{name}: must be true or false, not {value!r}")
    return value


def _check_keys(entry: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")


LIMIT_FIELDS = (*LIMIT_NAMES, "alert_fractions", "alert_webhook_url")


def _limits(value: Any, where: str) -> dict[str, Any]:
    """`limits: {rpm: 60, budget_usd_month: "10.00", ...}` -> every limit field of the row: the
    file says the whole state, so a limit left out (or `limits` itself) is cleared."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a mapping of {', '.join(LIMIT_FIELDS)}")
    _check_keys(value, set(LIMIT_FIELDS), where)
    out: dict[str, Any] = {}
    for name in LIMIT_FIELDS:
        raw, fwhere = value.get(name), f"{where}.{name}"
        field_ = ClientKey._meta.get_field(name)
        if raw is None:
            out[name] = field_.get_default()  # None, or the default fractions, or ""
            continue
        if name in ("rpm", "tpm", "concurrency"):
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                raise ConfigError(f"{fwhere}: must be a whole number ≥ 1, not {raw!r}")
        elif name.startswith("budget_"):
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise ConfigError(f"{fwhere}: must be a number of USD, not {raw!r}")
            try:
                # A YAML float's shortest repr is what was written: 10.5 -> Decimal("10.5").
                raw = Decimal(str(raw).strip())
            except InvalidOperation:
                raise ConfigError(f"{fwhere}: not a decimal number: {raw!r}") from None
            if not raw.is_finite() or raw < 0:
                raise ConfigError(f"{fwhere}: must be a non-negative number")
        elif name == "alert_fractions":
            if isinstance(raw, list):  # [0.8, 1.0] or "0.8,1.0"
                if not all(isinstance(f, str | int | float) and not isinstance(f, bool) for f in raw):
                    raise ConfigError(f"{fwhere}: must be a list of numbers")
                raw = ",".join(str(f) for f in raw)
            elif not isinstance(raw, str):
                raise ConfigError(f'{fwhere}: a list of fractions ([0.8, 1.0]) or a string ("0.8,1.0")')
        elif not isinstance(raw, str):
            raise ConfigError(f"{fwhere}: must be a string")
        try:  # the model field's own validators: the admin's rules, and what the column holds
            out[name] = field_.clean(raw, None)
        except ValidationError as exc:
            raise ConfigError(f"{fwhere}: {' '.join(exc.messages)}") from None
    return out


def config_validate(data: Any) -> dict:
    if not isinstance(data, dict):
        raise ConfigError("the file must be a mapping with providers:, models: and optionally teams:, clients:")
    _check_keys(data, {"providers", "models", "teams", "clients"}, "top level")
    providers, models, clients = data.get("providers") or [], data.get("models") or [], data.get("clients") or []
    out: dict[str, list] = {"providers": [], "models": [], "teams": [], "clients": []}
    names: set[str] = set()
    for i, p in enumerate(providers):
        where = f"providers[{i}]"
        if not isinstance(p, dict):
            raise ConfigError(f"{where}: must be a mapping")
        _check_keys(p, {"name", "kind", "base_url", "timeout_s", "keys", "enabled"}, where)
        name = p.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name: required")
        where = f"provider {name!r}"
        if name in names:
            raise ConfigError(f"{where}.name: duplicate")
        names.add(name)
        if p.get("kind") not in KINDS:
            raise ConfigError(f"{where}.kind: must be one of {', '.join(sorted(KINDS))}")
        base_url = _base_url(p.get("base_url"), f"{where}.base_url")
        timeout = p.get("timeout_s", 60)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"{where}.timeout_s: must be a positive number")
        keys = []
        labels: set[str] = set()
        for j, k in enumerate(p.get("keys") or []):
            kwhere = f"{where}.keys[{j}]"
            if not isinstance(k, dict):
                raise ConfigError(f"{kwhere}: must be a mapping")
            _check_keys(k, {"label", "secret", "weight", "enabled"}, kwhere)
            label = k.get("label")
            if not isinstance(label, str) or not label:
                raise ConfigError(f"{kwhere}.label: required")
            if label in labels:
                raise ConfigError(f"{kwhere}.label: duplicate {label!r}")
            labels.add(label)
            weight = k.get("weight", 1)
            if not isinstance(weight, int) or weight < 1:
                raise ConfigError(f"{kwhere}.weight: must be a whole number ≥ 1")
            keys.append(
                {
                    "label": label,
                    "secret": _resolve(k.get("secret"), f"{kwhere}.secret"),
                    "weight": weight,
                    "enabled": bool(k.get("enabled", True)),
                }
            )
        if p["kind"] != "ollama" and not keys:
            raise ConfigError(f"{where}.keys: a {p['kind']} provider needs at least one key")
        out["providers"].append(
            {
                "name": name,
                "kind": p["kind"],
                "base_url": base_url,
                "timeout_s": float(timeout),
                "enabled": bool(p.get("enabled", True)),
                "keys": keys,
            }
        )

    model_names: set[str] = set()
    for i, m in enumerate(models):
        where = f"models[{i}]"
        if not isinstance(m, dict):
            raise ConfigError(f"{where}: must be a mapping")
        _check_keys(
            m,
            {
                "name",
                "provider",
                "upstream_model",
                "input_per_mtok",
                "output_per_mtok",
                "cache_read_per_mtok",
                "cache_write_per_mtok",
                "cache_write_1h_per_mtok",
                "free",
                "context_window",
                "max_output_tokens",
                "cache_shared",
                "json_schema_via_tool",
                "mode",
                "fallbacks",
                "enabled",
            },
            where,
        )
        name = m.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name: required")
        where = f"model {name!r}"
        if name in model_names:
            raise ConfigError(f"{where}.name: duplicate")
        model_names.add(name)
        if m.get("provider") not in names and not Provider.objects.filter(name=m.get("provider")).exists():
            raise ConfigError(f"{where}.provider: unknown provider {m.get('provider')!r}")
        if not isinstance(m.get("upstream_model"), str) or not m["upstream_model"]:
            raise ConfigError(f"{where}.upstream_model: required")
        fallbacks = m.get("fallbacks") or []
        if not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
            raise ConfigError(f"{where}.fallbacks: must be a list of model names")
        if name in fallbacks:
            raise ConfigError(f"{where}.fallbacks: a model cannot fall back to itself")
        for opt in ("context_window", "max_output_tokens"):
            if m.get(opt) is not None and (not isinstance(m[opt], int) or m[opt] < 1):
                raise ConfigError(f"{where}.{opt}: must be a positive whole number")
        mode = m.get("mode", Model.Mode.CHAT)
        if mode not in MODES:
            raise ConfigError(f"{where}.mode: must be one of {', '.join(sorted(MODES))}, not {mode!r}")
        out["models"].append(
            {
                "name": name,
                "provider": m["provider"],
                "upstream_model": m["upstream_model"],
                # Left out, a model loads but does not serve until priced or free (config_load warns).
                "input_per_mtok": _decimal(m.get("input_per_mtok"), f"{where}.input_per_mtok", optional=True),
                "output_per_mtok": _decimal(m.get("output_per_mtok"), f"{where}.output_per_mtok", optional=True),
                "free": _flag(m, "free", where, default=False),
                "cache_read_per_mtok": _decimal(
                    m.get("cache_read_per_mtok"), f"{where}.cache_read_per_mtok", optional=True
                ),
                "cache_write_per_mtok": _decimal(
                    m.get("cache_write_per_mtok"), f"{where}.cache_write_per_mtok", optional=True
                ),
                "cache_write_1h_per_mtok": _decimal(
                    m.get("cache_write_1h_per_mtok"), f"{where}.cache_write_1h_per_mtok", optional=True
                ),
                "context_window": m.get("context_window"),
                "max_output_tokens": m.get("max_output_tokens"),
                "cache_shared": _flag(m, "cache_shared", where, default=False),
                "json_schema_via_tool": _flag(m, "json_schema_via_tool", where, default=False),
                "mode": mode,
                "enabled": bool(m.get("enabled", True)),
                "fallbacks": fallbacks,
            }
        )
    modes = {m["name"]: m["mode"] for m in out["models"]}
    for m in out["models"]:
        for f in m["fallbacks"]:
            if f not in model_names and not Model.objects.filter(name=f).exists():
                raise ConfigError(f"model {m['name']!r}.fallbacks: unknown model {f!r}")
            # A fallback answers the same route: a chat model cannot stand in for an embedding one.
            fmode = modes.get(f) or Model.objects.filter(name=f).values_list("mode", flat=True).first()
            if fmode != m["mode"]:
                raise ConfigError(
                    f"model {m['name']!r}.fallbacks: {f!r} is not {mode_named(m['mode'])} model (a fallback answers its model's route)"
                )

    out["teams"] = _validate_teams(data.get("teams") or [])
    team_names = {t["name"] for t in out["teams"]}
    client_names: set[str] = set()
    for i, c in enumerate(clients):
        where = f"clients[{i}]"
        if not isinstance(c, dict):
            raise ConfigError(f"{where}: must be a mapping")
        _check_keys(c, {"name", "key", "models", "team", "limits"}, where)
        name = c.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name: required")
        if name in client_names:
            raise ConfigError(f"client {name!r}.name: duplicate")
        client_names.add(name)
        allowed = c.get("models") or []
        for mname in allowed:
            if mname not in model_names and not Model.objects.filter(name=mname).exists():
                raise ConfigError(f"client {name!r}.models: unknown model {mname!r}")
        team = c.get("team")
        if team is not None and (
            not isinstance(team, str) or (team not in team_names and not Team.objects.filter(name=team).exists())
        ):
            raise ConfigError(f"client {name!r}.team: unknown team {team!r} (not in teams: nor in the database)")
        out["clients"].append(
            {
                "name": name,
                "key": _resolve(c.get("key"), f"client {name!r}.key"),
                "models": allowed,
                "team": team,
                "limits": _limits(c.get("limits"), f"client {name!r}.limits"),
            }
        )
    return out


def _validate_teams(teams: Any) -> list[dict]:
    if not isinstance(teams, list):
        raise ConfigError("teams: must be a list")
    out: list[dict] = []
    names: set[str] = set()
    for i, t in enumerate(teams):
        where = f"teams[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{where}: must be a mapping")
        _check_keys(t, {"name", "limits"}, where)
        name = t.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name: required")
        try:
            Team._meta.get_field("name").clean(name, None)
        except ValidationError as exc:
            raise ConfigError(f"{where}.name: {' '.join(exc.messages)}") from None
        where = f"team {name!r}"
        if name in names:
            raise ConfigError(f"{where}.name: duplicate")
        names.add(name)
        out.append({"name": name, "limits": _limits(t.get("limits"), f"{where}.limits")})
    return out
