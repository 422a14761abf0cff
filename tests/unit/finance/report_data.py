"""Realistic finance data: ~300 requests over three weeks, several models, providers, client keys
and teams, priced as the gateway prices them; plus requests naming models the catalog lacks (404s).

Used by the report's unit tests and the browser test (which also takes the docs' screenshot).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from completions_app.models import ClientKey, CompletionRecord, Team
from completions_app.services.cost import Prices, cost_compute
from providers_app.adapters.types import Usage
from tests.factories import model_create, provider_create

# name, provider, USD per 1M input tokens, per 1M output tokens, weight (share of requests)
CATALOG = (
    ("gpt-4o-mini", "openai", "0.15", "0.60", 30),
    ("gpt-4o", "openai", "2.50", "10.00", 8),
    ("claude-3-5-haiku", "anthropic", "0.80", "4.00", 20),
    ("claude-sonnet-4", "anthropic", "3.00", "15.00", 6),
    ("llama3", "ollama", "0", "0", 10),  # local: free, so never drawn in the chart
)
UNKNOWN_NAMES = ("gpt-5-turbo-preview", "claude-opus-9", "mistral-large", "=cmd|' /C calc'!A0")
# key name -> team name ("" = a key without a team)
KEYS = {"web-app": "product", "mobile-app": "product", "ci-bot": "platform", "support-bot": "support", "notebook": ""}


@dataclass(frozen=True)
class Dataset:
    start: date  # the first of the 21 days
    end: date  # today
    records: int


def _catalog() -> None:
    providers = {
        name: provider_create(name, kind, f"http://127.0.0.1:9/{name}")
        for name, kind in (("openai", "openai"), ("anthropic", "anthropic"), ("ollama", "ollama"))
    }
    for name, provider, inp, out, _ in CATALOG:
        model_create(name, providers[provider], input_price=inp, output_price=out)


def _keys() -> dict[str, ClientKey]:
    teams = {t: Team.objects.create(name=t) for t in sorted(set(KEYS.values()) - {""})}
    return {
        name: ClientKey.objects.create(name=name, key_hash=name.ljust(64, "0"), prefix=name[:8], team=teams.get(team))
        for name, team in KEYS.items()
    }


def realistic_records(*, today: date | None = None, n: int = 300, seed: int = 18) -> Dataset:
    """n records over the 21 days ending today (in the current time zone), deterministic."""
    rng = random.Random(seed)
    today = today or timezone.localdate()
    start = today - timedelta(days=20)
    _catalog()
    keys = _keys()
    tz = timezone.get_current_timezone()
    weights = [w for *_, w in CATALOG]
    rows = []
    for i in range(n):
        day = start + timedelta(days=rng.randrange(21))
        at = datetime.combine(day, time(rng.randrange(24), rng.randrange(60), rng.randrange(60)), tzinfo=tz)
        key = keys[rng.choice(list(KEYS))]
        common = {"created_at": at, "request_id": f"req-{seed}-{i}", "client": key, "client_name": key.name}
        if rng.random() < 0.05:  # a client asks for a model that does not exist: 404, nothing served
            rows.append(
                CompletionRecord(
                    **common,
                    model=rng.choice(UNKNOWN_NAMES),
                    status=CompletionRecord.Status.ERROR,
                    error_type="model_not_found",
                    http_status=404,
                )
            )
            continue
        name, provider, inp, out, _ = rng.choices(CATALOG, weights=weights)[0]
        usage = Usage(input_tokens=rng.randrange(50, 6000), output_tokens=rng.randrange(10, 1500))
        prices = Prices(input=Decimal(inp), output=Decimal(out), cache_read=Decimal(inp), cache_write=Decimal(inp))
        cost = cost_compute(usage=usage, prices=prices)
        roll = rng.random()
        served = {"served_model": name, "provider": provider, "provider_key": "key1"}
        if roll < 0.06:  # upstream error: nothing billed
            rows.append(
                CompletionRecord(**common, **served, model=name, status=CompletionRecord.Status.ERROR, http_status=502)
            )
        elif roll < 0.16:  # cache hit: free, saves what the first call cost
            rows.append(
                CompletionRecord(
                    **common,
                    **served,
                    model=name,
                    status=CompletionRecord.Status.CACHE_HIT,
                    cached=True,
                    cost_saved_usd=cost,
                )
            )
        else:
            rows.append(
                CompletionRecord(
                    **common,
                    **served,
                    model=name,
                    status=CompletionRecord.Status.OK,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    input_price_per_mtok=prices.input,
                    output_price_per_mtok=prices.output,
                    cost_usd=cost,
                    latency_ms=rng.uniform(200, 4000),
                )
            )
    CompletionRecord.objects.bulk_create(rows)
    return Dataset(start=start, end=today, records=n)
