"""Records with awkward Decimal costs spread over days, hours, models, providers and clients; users by role."""

from __future__ import annotations

import importlib
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from completions_app.models import CompletionRecord

PASSWORD = "finance-pw-123456789"
MODELS = (("gpt-4o-mini", "oa"), ("claude-3-5-haiku", "an"), ("llama3", "ol"))
CLIENTS = ("team-a", "team-b", "")


def record_create(
    created_at: datetime,
    *,
    model: str = "gpt-4o-mini",
    provider: str = "oa",
    client_name: str = "team-a",
    status: str = CompletionRecord.Status.OK,
    cost: str | Decimal = "0.000123456789",
    saved: str | Decimal = "0",
    input_tokens: int = 10,
    output_tokens: int = 20,
) -> CompletionRecord:
    return CompletionRecord.objects.create(
        created_at=created_at,
        request_id=f"req-{random.getrandbits(48):x}",
        client_name=client_name,
        model=model,
        served_model=model,
        provider=provider,
        provider_key="key1",
        status=status,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=Decimal(cost),
        cost_saved_usd=Decimal(saved),
        cached=status == CompletionRecord.Status.CACHE_HIT,
        http_status=500 if status == CompletionRecord.Status.ERROR else 200,
    )


def random_records(start: datetime, *, days: int, n: int, seed: int = 7) -> list[CompletionRecord]:
    """n records over `days` days from `start`, with 12-decimal costs (the field's full precision)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        model, provider = rng.choice(MODELS)
        status = rng.choice(
            [CompletionRecord.Status.OK] * 6 + [CompletionRecord.Status.ERROR, CompletionRecord.Status.CACHE_HIT]
        )
        cost = Decimal(rng.randrange(0, 3_000_000_000_000)).scaleb(-12)  # up to $3, all 12 places used
        saved = cost if status == CompletionRecord.Status.CACHE_HIT else Decimal(0)
        if status != CompletionRecord.Status.OK:
            cost = Decimal(0)
        out.append(
            record_create(
                start + timedelta(seconds=rng.randrange(0, days * 86400)),
                model=model,
                provider=provider,
                client_name=rng.choice(CLIENTS),
                status=status,
                cost=cost,
                saved=saved,
                input_tokens=rng.randrange(0, 5000),
                output_tokens=rng.randrange(0, 2000),
            )
        )
    return out


def records_sum(field: str, **filters: object) -> Decimal | int:
    """The reference: Python's exact sum over the rows as the ORM reads them."""
    return sum((getattr(r, field) for r in CompletionRecord.objects.filter(**filters)), Decimal(0))


@pytest.fixture
def base_day() -> datetime:
    return datetime(2026, 3, 10, tzinfo=UTC)


def finance_group_ensure() -> Group:
    """The `finance` group as the data migration makes it.

    Transactional tests (live_server, e2e) flush every table when they end, and the flush
    re-creates permissions but not groups: so re-apply the migration's own function.
    """
    from django.apps import apps

    migration = importlib.import_module("completions_app.migrations.0002_finance_group")
    migration.create_finance_group(apps, None)
    importlib.import_module("completions_app.migrations.0009_management_api_groups").create_groups(apps, None)
    return Group.objects.get(name="finance")


@pytest.fixture
def finance_user(db, django_user_model):
    """Staff, in the `finance` group, nothing else."""
    user = django_user_model.objects.create_user("fin", "fin@example.com", PASSWORD, is_staff=True)
    user.groups.add(finance_group_ensure())
    return user


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user)
    return client
