"""The audit-record writer: rows queued as plain values, written with one prepared INSERT.

These run on the configured database: SQLite by default, PostgreSQL with
DATABASE_URL=postgres://... (both in CI).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import OperationalError, connection
from prometheus_client import REGISTRY

from completions_app import metrics
from completions_app.models import ClientKey, CompletionRecord
from completions_app.services import audit
from completions_app.services.audit import Outcome, outcome_finish
from completions_app.services.cost import Prices
from completions_app.services.recorder import FIELDS, RecordRow, RecordWriter
from completions_app.services.types import Attempt, CallContext, ClientIdentity, CompletionInput
from providers_app.adapters.types import Message, Usage
from providers_app.models import ProviderKey
from tests.factories import client_create, provider_create

from .records_support import WHEN, row, sample, stored, write


def test_values_written_equal_the_orms(transactional_db):
    client_create("svc")
    client = ClientKey.objects.get(name="svc")
    rows = [
        row(client_id=client.id),
        # The other shapes: no prices, no ttft, an error, zero cost, no attempts, UTC.
        row(
            client_id=client.id,
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
            status=CompletionRecord.Status.ERROR,
            input_price_per_mtok=None,
            output_price_per_mtok=None,
            cache_read_price_per_mtok=None,
            cost_usd=Decimal(0),
            cost_saved_usd=Decimal("0.000000000001"),
            ttft_ms=None,
            latency_ms=0.0,
            finish_reason="",
            attempts=[],
            usage_estimated=False,
            cached=True,
            stream=False,
        ),
        # Not Decimals: the field's own conversion, as the ORM does it.
        row(client_id=client.id, cost_usd=0.1 + 0.2, cost_saved_usd="2.5", input_price_per_mtok=3),  # type: ignore[arg-type]
    ]
    for i, r in enumerate(rows):
        # The ORM path this replaces: a model instance through bulk_create.
        orm = CompletionRecord(**r._replace(request_id=f"orm-{i}")._asdict())
        CompletionRecord.objects.bulk_create([orm], ignore_conflicts=True)
        write(r._replace(request_id=f"new-{i}"))

        assert stored(f"new-{i}") == stored(f"orm-{i}")
        new = CompletionRecord.objects.get(request_id=f"new-{i}")
        old = CompletionRecord.objects.get(request_id=f"orm-{i}")
        for f in FIELDS[1:]:
            if f.attname != "request_id":
                assert getattr(new, f.attname) == getattr(old, f.attname), f.attname
                if i < 2:
                    assert getattr(new, f.attname) == getattr(r, f.attname), f.attname
                assert type(getattr(new, f.attname)) is type(getattr(old, f.attname)), f.attname
        assert new.pk != old.pk and new.pk.version == 4
        assert new.created_at.utcoffset() == timedelta(0)  # read back in UTC, like the ORM's row


def test_every_outcome_value_lands_in_its_column(monkeypatch):
    submitted: list[RecordRow] = []
    monkeypatch.setattr(audit, "record_submit", submitted.append)
    client = ClientIdentity(id=7, name="svc", allowed_models=None)
    o = Outcome(
        ctx=CallContext(request_id="rid", client=client, interface="grpc"),
        inp=CompletionInput(model="asked", messages=(Message("user", "hi"),)),
        stream=True,
    )
    o.served_model, o.provider, o.provider_key = "served", "prov", "k1"
    o.status, o.error_type, o.http_status = CompletionRecord.Status.ERROR, "upstream_error", 502
    o.usage = Usage(
        input_tokens=1,
        output_tokens=7,
        cache_read_tokens=3,
        cache_write_tokens=4,
        reasoning_tokens=5,
        cache_write_1h_tokens=2,
    )
    o.prices = Prices(
        input=Decimal("1.1"),
        output=Decimal("2.2"),
        cache_read=Decimal("3.3"),
        cache_write=Decimal("4.4"),
        cache_write_1h=Decimal("5.5"),
    )
    o.cost, o.cost_saved, o.usage_estimated = Decimal("0.5"), Decimal("0.25"), True
    o.latency_ms, o.ttft_ms, o.cached, o.finish_reason = 12.34567, 5.55555, True, None
    o.attempts = [Attempt(model="served", provider="prov", key="k1", outcome="upstream_error")]
    outcome_finish(o)
    [r] = submitted
    assert r._asdict() == {
        "created_at": o.started_at,
        "request_id": "rid",
        "client_id": 7,
        "client_name": "svc",
        "interface": "grpc",
        "model": "asked",
        "served_model": "served",
        "provider": "prov",
        "provider_key": "k1",
        "status": "error",
        "error_type": "upstream_error",
        "http_status": 502,
        "input_tokens": 1,
        "output_tokens": 7,
        "reasoning_tokens": 5,
        "cache_read_tokens": 3,
        "cache_write_tokens": 4,
        "input_price_per_mtok": Decimal("1.1"),
        "output_price_per_mtok": Decimal("2.2"),
        "cache_read_price_per_mtok": Decimal("3.3"),
        "cache_write_price_per_mtok": Decimal("4.4"),
        "cost_usd": Decimal("0.5"),
        "cost_saved_usd": Decimal("0.25"),
        "usage_estimated": True,
        "latency_ms": 12.346,
        "ttft_ms": 5.556,
        "cached": True,
        "stream": True,
        "finish_reason": "",
        "attempts": [{"model": "served", "provider": "prov", "key": "k1", "outcome": "upstream_error"}],
        "limit_hit": "",  # set by the limits (issue 15); none here
        "end_user": "",  # the request's `user`: none here
        "cache_write_1h_tokens": 2,
        "cache_write_1h_price_per_mtok": Decimal("5.5"),
    }


def test_outcome_metrics_are_counted_per_request(monkeypatch):
    monkeypatch.setattr(audit, "record_submit", lambda r: None)
    labels = {"model": "metrics-model", "provider": "metrics-prov"}
    before = {
        "requests": sample("ai_proxy_requests_total", **labels, status="ok"),
        "duration": sample("ai_proxy_request_duration_seconds_count", **labels),
        "input": sample("ai_proxy_tokens_used_total", **labels, type="input"),
        "cost": sample("ai_proxy_cost_total", **labels),
    }
    for _ in range(2):
        o = Outcome(
            ctx=CallContext(
                request_id="r", client=ClientIdentity(id=1, name="c", allowed_models=None), interface="rest"
            ),
            inp=CompletionInput(model="metrics-model", messages=(Message("user", "hi"),)),
            stream=False,
        )
        o.served_model, o.provider, o.latency_ms = "metrics-model", "metrics-prov", 250.0
        o.usage, o.cost = Usage(input_tokens=10, output_tokens=0), Decimal("0.5")
        outcome_finish(o)
    assert sample("ai_proxy_requests_total", **labels, status="ok") == before["requests"] + 2
    assert sample("ai_proxy_request_duration_seconds_count", **labels) == before["duration"] + 2
    assert sample("ai_proxy_tokens_used_total", **labels, type="input") == before["input"] + 20
    assert sample("ai_proxy_cost_total", **labels) == before["cost"] + 1.0
    # No series for token kinds that were never used.
    assert REGISTRY.get_sample_value("ai_proxy_tokens_used_total", {**labels, "type": "output"}) is None


def test_children_are_the_labels_children_and_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(metrics.Children, "MAX", 2)
    children = metrics.Children(metrics.cost_total)
    a = children.get("bounded-a", "p")
    assert a is metrics.cost_total.labels(model="bounded-a", provider="p")
    assert children.get("bounded-a", "p") is a
    children.get("bounded-b", "p")
    children.get("bounded-c", "p")  # over MAX: the cache starts again
    assert len(children._children) == 1
    assert children.get("bounded-a", "p") is a  # prometheus_client still holds the child


# --- failures ------------------------------------------------------------------------------------
def test_a_deleted_client_key_costs_only_its_link_not_the_batch(transactional_db, monkeypatch):
    row_by_row: list[int] = []
    real = RecordWriter._write_rows
    monkeypatch.setattr(RecordWriter, "_write_rows", staticmethod(lambda p: row_by_row.append(len(p)) or real(p)))
    client_create("alive")
    client_create("gone")
    alive = ClientKey.objects.get(name="alive")
    gone = ClientKey.objects.get(name="gone")
    gone_id = gone.id
    gone.delete()
    later = WHEN + timedelta(minutes=5)
    written_before = sample("ai_proxy_records_written_total")
    write(
        row(request_id="a", client_id=alive.id, client_name="alive"),
        row(request_id="b", client_id=gone_id, client_name="gone"),
        row(request_id="c", client_id=alive.id, client_name="alive", created_at=later),
    )
    got = {r.request_id: r for r in CompletionRecord.objects.all()}
    assert row_by_row == [3]  # the batch failed on its foreign key, then row by row
    assert sorted(got) == ["a", "b", "c"]
    assert (got["b"].client_id, got["b"].client_name) == (None, "gone")
    assert got["a"].client_id == got["c"].client_id == alive.id
    assert sample("ai_proxy_records_written_total") == written_before + 3
    alive.refresh_from_db()
    assert alive.last_used_at == later  # the row-by-row path keeps last_used_at too


def test_last_used_at_only_moves_forward(transactional_db):
    provider = provider_create("an", "anthropic", "http://127.0.0.1:9", keys=("sk-ant-1111", "sk-ant-2222"))
    client_create("svc")
    client = ClientKey.objects.get(name="svc")
    future = WHEN + timedelta(days=1)
    ClientKey.objects.filter(pk=client.pk).update(last_used_at=future)
    write(
        row(request_id="1", client_id=client.id, provider="an", provider_key="key1"),
        row(request_id="2", client_id=client.id, provider="an", provider_key="key1", created_at=WHEN - timedelta(1)),
        row(request_id="3", provider="an", provider_key="key2", status=CompletionRecord.Status.ERROR),
    )
    client.refresh_from_db()
    assert client.last_used_at == future
    keys = {k.label: k.last_used_at for k in ProviderKey.objects.filter(provider=provider)}
    assert keys == {"key1": WHEN, "key2": None}  # errors do not count as a use of the key


def test_a_value_no_database_takes_drops_that_record_only(transactional_db, caplog):
    dropped = sample("ai_proxy_records_dropped_total")
    write(row(request_id="ok-1"), row(request_id="nan", cost_usd=Decimal("NaN")), row(request_id="ok-2"))
    assert sorted(CompletionRecord.objects.values_list("request_id", flat=True)) == ["ok-1", "ok-2"]
    assert sample("ai_proxy_records_dropped_total") == dropped + 1
    assert "audit record nan has an invalid value" in caplog.text


def test_text_the_driver_cannot_send_drops_that_record_only_and_never_stalls_the_writer(transactional_db, caplog):
    # A row not made storable (audit's row_storable does that for every row it builds): the
    # driver raises UnicodeEncodeError, which must not read as "database away, retry forever".
    dropped = sample("ai_proxy_records_dropped_total")
    write(row(request_id="ok-1"), row(request_id="sur", model="gpt\ud800"), row(request_id="ok-2"))
    assert sorted(CompletionRecord.objects.values_list("request_id", flat=True)) == ["ok-1", "ok-2"]
    assert sample("ai_proxy_records_dropped_total") == dropped + 1
    assert "audit record sur cannot be written (UnicodeEncodeError" in caplog.text
    write(row(request_id="ok-3"))
    assert CompletionRecord.objects.filter(request_id="ok-3").exists()


@pytest.mark.postgres
def test_a_row_the_database_refuses_is_dropped_and_the_others_written(transactional_db, caplog):
    # PostgreSQL checks PositiveIntegerField's CHECK at once (SQLite's INSERT OR IGNORE skips such a row,
    # as bulk_create(ignore_conflicts=True) did).
    dropped = sample("ai_proxy_records_dropped_total")
    write(row(request_id="ok-1"), row(request_id="bad", input_tokens=-1), row(request_id="ok-2"))
    assert sorted(CompletionRecord.objects.values_list("request_id", flat=True)) == ["ok-1", "ok-2"]
    assert sample("ai_proxy_records_dropped_total") == dropped + 1
    assert "audit record bad cannot be written (IntegrityError" in caplog.text


def test_failed_batches_are_retried_with_the_same_keys_and_nothing_is_lost(transactional_db, caplog):
    w = RecordWriter()
    real = w._write_batch
    attempts: list[list[object]] = []

    def flaky(prepared):  # noqa: ANN001, ANN202
        attempts.append([p.params[0] for p in prepared])
        if len(attempts) == 1:
            raise OperationalError("the database is down")
        real(prepared)
        if len(attempts) == 2:
            raise OperationalError("the connection broke after the commit")

    w._write_batch = flaky  # type: ignore[method-assign]
    errors = sample("ai_proxy_record_write_errors_total")
    w._queue.extend(row(request_id=f"r{i}") for i in range(5))  # one batch
    assert w.flush(10)
    w.stop()
    assert len(attempts) == 3 and attempts[0] == attempts[1] == attempts[2]
    assert sorted(CompletionRecord.objects.values_list("request_id", flat=True)) == [f"r{i}" for i in range(5)]
    assert sample("ai_proxy_record_write_errors_total") == errors + 2
    assert "writing 5 audit records failed (OperationalError); retrying" in caplog.text


def test_a_full_queue_drops_with_a_metric_and_a_log_line(settings, monkeypatch, caplog):
    settings.RECORD_QUEUE_MAX = 2
    w = RecordWriter()
    monkeypatch.setattr(w, "_ensure_thread", lambda: None)  # nothing drains the queue
    dropped = sample("ai_proxy_records_dropped_total")
    for i in range(3):
        w.submit(row(request_id=f"q{i}"))
    assert w.pending() == 2
    assert sample("ai_proxy_records_dropped_total") == dropped + 1
    assert sample("ai_proxy_record_queue_depth") == 2
    assert "audit record queue full (2); dropping record q2" in caplog.text


@pytest.mark.postgres
def test_postgresql_prepares_the_insert_once_and_only_for_the_writer(transactional_db):
    def prepared_inserts() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, statement FROM pg_prepared_statements")
            return {name for name, sql in cursor.fetchall() if sql.startswith("INSERT INTO")}

    w = RecordWriter()
    w._write(w._prepare([row(request_id="first")]))
    before = prepared_inserts()
    # Small and large ints (psycopg would send int2, int4 or int8): still the same statement.
    w._write(
        w._prepare(
            [row(request_id="small", input_tokens=1, http_status=200), row(request_id="big", input_tokens=10**9)]
        )
    )
    assert prepared_inserts() == before and before
    assert connection.connection.prepare_threshold is None  # Django's setting, restored
    assert CompletionRecord.objects.count() == 3
