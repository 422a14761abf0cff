"""Celery tasks of completions_app: thin wrappers over services.rollup and services.budget_alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import InterfaceError, OperationalError, transaction

from aiproxy.celery import app

from .services.budget_alerts import WebhookFailed, webhook_post
from .services.rollup import rollup_recompute

# Retried only for infrastructure faults (database away or locked). Re-running is safe:
# a roll-up is recomputed from the records, never incremented.
INFRA_ERRORS = (OperationalError, InterfaceError)


def _when(value: str | datetime | None) -> datetime | None:
    """Task arguments travel as ISO strings (JSON); naive means UTC."""
    if value is None or value == "":
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@app.task(
    name="completions_app.tasks.rollup_costs",
    autoretry_for=INFRA_ERRORS,
    max_retries=3,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
)
def rollup_costs(since: str | None = None, until: str | None = None) -> dict[str, Any]:
    """Recompute roll-ups for [since, until) (ISO datetimes); default: the last 48 hours."""
    return rollup_recompute(since=_when(since), until=_when(until))


def rollup_costs_enqueue(*, since: datetime | None = None, until: datetime | None = None) -> None:
    """Queue a roll-up once the current transaction has committed (the worker must see its rows)."""
    args = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None}
    transaction.on_commit(lambda: rollup_costs.delay(**args))


@app.task(
    name="completions_app.tasks.budget_alert_post",
    autoretry_for=(WebhookFailed,),
    max_retries=8,
    retry_backoff=5,  # 5 s, 10 s, 20 s... up to retry_backoff_max
    retry_backoff_max=600,
    retry_jitter=True,
)
def budget_alert_post(url: str, payload: dict[str, str]) -> int:
    """POST one budget alert to the admin's webhook (queued by services.budget_alerts); a
    failure worth retrying is retried with backoff. Returns the webhook's status."""
    return webhook_post(url, payload)
