"""Roll-ups equal the records to the last decimal, re-runs change nothing, late records are picked up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from completions_app.models import CompletionRecord, CostRollup
from completions_app.services.rollup import rollup_recompute
from completions_app.tasks import rollup_costs

from .conftest import random_records, record_create, records_sum

pytestmark = pytest.mark.django_db

FIELDS = ("cost_usd", "cost_saved_usd", "input_tokens", "output_tokens")


def _snapshot() -> list[tuple]:
    return list(
        CostRollup.objects.order_by("period", "bucket_start", "model", "provider", "client_name").values_list(
            "period", "bucket_start", "model", "provider", "client_name", "requests", "errors", "cache_hits",
            "input_tokens", "output_tokens", "cost_usd", "cost_saved_usd",
        )
    )  # fmt: skip


def test_rollup_totals_equal_the_records_exactly(base_day):
    random_records(base_day, days=3, n=150)
    rollup_recompute(since=base_day, until=base_day + timedelta(days=3))

    for period in (CostRollup.Period.HOUR, CostRollup.Period.DAY):
        rows = CostRollup.objects.filter(period=period)
        for field in FIELDS:
            total = sum((getattr(r, field) for r in rows), Decimal(0))
            assert total == records_sum(field), (period, field)
        assert sum(r.requests for r in rows) == CompletionRecord.objects.count()
        assert sum(r.errors for r in rows) == CompletionRecord.objects.filter(status="error").count()
        assert sum(r.cache_hits for r in rows) == CompletionRecord.objects.filter(cached=True).count()

    # Every day × model × provider × client group on its own, too.
    for row in CostRollup.objects.filter(period=CostRollup.Period.DAY):
        group = {
            "created_at__gte": row.bucket_start,
            "created_at__lt": row.bucket_start + timedelta(days=1),
            "model": row.model,
            "provider": row.provider,
            "client_name": row.client_name,
        }
        assert row.cost_usd == records_sum("cost_usd", **group)
        assert row.requests == CompletionRecord.objects.filter(**group).count()


def test_buckets_are_utc_hours_and_days(base_day):
    record_create(base_day + timedelta(hours=5, minutes=59), cost="0.1")
    record_create(base_day + timedelta(hours=5, minutes=1), cost="0.2")
    record_create(base_day + timedelta(hours=23, minutes=59, seconds=59), cost="0.4")
    rollup_recompute(since=base_day, until=base_day + timedelta(days=1))
    hours = dict(CostRollup.objects.filter(period="hour").values_list("bucket_start", "cost_usd"))
    assert hours == {base_day + timedelta(hours=5): Decimal("0.3"), base_day + timedelta(hours=23): Decimal("0.4")}
    day = CostRollup.objects.get(period="day")
    assert (day.bucket_start, day.cost_usd, day.requests) == (base_day, Decimal("0.7"), 3)


def test_rerunning_any_period_is_idempotent(base_day):
    random_records(base_day, days=2, n=80)
    rollup_recompute(since=base_day, until=base_day + timedelta(days=2))
    first = _snapshot()
    assert first
    rollup_recompute(since=base_day, until=base_day + timedelta(days=2))
    assert _snapshot() == first
    # An overlapping, mid-day range rebuilds whole days: still the same rows.
    rollup_recompute(since=base_day + timedelta(hours=13), until=base_day + timedelta(days=1, hours=2))
    assert _snapshot() == first


def test_late_records_are_picked_up_on_rerun(base_day):
    record_create(base_day + timedelta(hours=1), cost="1.000000000001")
    rollup_recompute(since=base_day, until=base_day + timedelta(days=1))
    # Written after the roll-up ran (a slow replica flushing its queue), for an hour already rolled up.
    record_create(base_day + timedelta(hours=1, minutes=30), cost="0.000000000002", model="llama3", provider="ol")
    record_create(base_day + timedelta(hours=1, minutes=45), cost="2.5")
    rollup_recompute(since=base_day, until=base_day + timedelta(days=1))
    day_total = CostRollup.objects.filter(period="day").aggregate(s=Sum("requests"))["s"]
    assert day_total == 3
    assert sum(r.cost_usd for r in CostRollup.objects.filter(period="hour")) == Decimal("3.500000000003")


def test_removed_groups_do_not_survive_a_rerun(base_day):
    rec = record_create(base_day + timedelta(hours=2), model="gone")
    rollup_recompute(since=base_day, until=base_day + timedelta(days=1))
    rec.delete()
    rollup_recompute(since=base_day, until=base_day + timedelta(days=1))
    assert not CostRollup.objects.exists()


def test_task_default_covers_the_last_48_hours():
    now = datetime.now(tz=UTC)
    record_create(now - timedelta(hours=47), cost="0.5")
    record_create(now - timedelta(days=5), cost="9")  # outside the default window
    result = rollup_costs.apply().get()
    assert result["days"] in (3, 4)  # whole UTC days touching the window
    assert sum(r.cost_usd for r in CostRollup.objects.filter(period="day")) == Decimal("0.5")


def test_task_takes_an_iso_range(base_day):
    record_create(base_day + timedelta(hours=3), cost="0.25")
    rollup_costs.apply(kwargs={"since": base_day.isoformat(), "until": "2026-03-11T00:00:00"}).get()
    assert CostRollup.objects.get(period="day").cost_usd == Decimal("0.25")
