"""Celery tasks of providers_app: thin wrappers over providers_app.probes."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import InterfaceError, OperationalError, transaction

from aiproxy.celery import app

from .probes import providers_probe

# Retried only for infrastructure faults (database away or locked); a failing provider
# key is a recorded result, never a task failure.
INFRA_ERRORS = (OperationalError, InterfaceError)


@app.task(
    name="providers_app.tasks.probe_providers",
    autoretry_for=INFRA_ERRORS,
    max_retries=3,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
    # A probe run is minutes apart from the next: an old queued one is not worth running.
    expires=600,
)
def probe_providers(provider_ids: list[int] | None = None) -> dict[str, object]:
    return providers_probe(provider_ids=provider_ids)


def probe_providers_enqueue(*, provider_ids: Iterable[int] | None = None) -> None:
    """Probe after the current transaction commits (so the worker sees the rows just written)."""
    ids = list(provider_ids) if provider_ids is not None else None
    transaction.on_commit(lambda: probe_providers.delay(provider_ids=ids))
