"""The finance report: who may see it, and that its totals, chart data and CSV are the records' own numbers."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from completions_app.models import CompletionRecord
from completions_app.services.cost import cost_format
from metrics_app.forms import default_range

from .conftest import PASSWORD, random_records, record_create, records_sum

pytestmark = pytest.mark.django_db

REPORT = reverse("finance:report")
EXPORT = reverse("finance:export")
RANGE = {"start": "2026-03-10", "end": "2026-03-12"}


def _in_range() -> dict:
    return {"created_at__gte": datetime(2026, 3, 10, tzinfo=UTC), "created_at__lt": datetime(2026, 3, 13, tzinfo=UTC)}


@pytest.fixture
def records(base_day):
    random_records(base_day - timedelta(days=2), days=7, n=200)  # some before and after the range


def _csv(resp) -> list[dict[str, str]]:
    body = b"".join(resp.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


# --- access -----------------------------------------------------------------------------
def test_anonymous_and_non_staff_are_sent_to_the_admin_login(client, django_user_model):
    for url in (REPORT, EXPORT):
        resp = client.get(url)
        assert resp.status_code == 302
        assert resp["Location"].startswith(reverse("admin:login"))
    user = django_user_model.objects.create_user("plain", password=PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="view_completionrecord"))
    client.force_login(user)
    assert client.get(REPORT).status_code == 302


def test_staff_without_the_permission_get_403(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("staff", password=PASSWORD, is_staff=True))
    assert client.get(REPORT).status_code == 403
    assert client.get(EXPORT).status_code == 403


def test_finance_group_has_view_permissions_on_records_rollups_and_price_history_only():
    from .conftest import finance_group_ensure

    expected = {
        ("completions_app", "view_completionrecord"),
        ("completions_app", "view_costrollup"),
        # migration 0009 (the management API): "what did model X cost on date D"
        ("providers_app", "view_modelprice"),
    }
    # As migrated (unless a transactional test flushed it), and as re-made on a database without it.
    group = Group.objects.filter(name="finance").first() or finance_group_ensure()
    assert set(group.permissions.values_list("content_type__app_label", "codename")) == expected
    group.delete()
    Permission.objects.filter(content_type__app_label__in=["completions_app", "providers_app"]).delete()
    group = finance_group_ensure()
    assert set(group.permissions.values_list("content_type__app_label", "codename")) == expected


def test_finance_user_sees_records_but_never_provider_keys(finance_client):
    for name in ("completionrecord", "costrollup"):
        assert finance_client.get(reverse(f"admin:completions_app_{name}_changelist")).status_code == 200
    for url in (
        reverse("admin:providers_app_providerkey_changelist"),
        reverse("admin:providers_app_providerkey_add"),
        reverse("admin:providers_app_provider_changelist"),
        reverse("admin:providers_app_model_changelist"),
    ):
        assert finance_client.get(url).status_code == 403, url
    index = finance_client.get(reverse("admin:index")).content.decode()
    assert "Provider keys" not in index
    assert REPORT in index  # the report is linked from the admin index


# --- numbers ----------------------------------------------------------------------------
def test_report_totals_equal_the_records(finance_client, records):
    resp = finance_client.get(REPORT, RANGE)
    assert resp.status_code == 200
    report = resp.context["report"]
    rng = _in_range()
    assert report.totals["cost_usd"] == records_sum("cost_usd", **rng)
    assert report.totals["cost_saved_usd"] == records_sum("cost_saved_usd", **rng)
    assert report.totals["requests"] == CompletionRecord.objects.filter(**rng).count()
    assert report.totals["input_tokens"] == records_sum("input_tokens", **rng)
    # The page shows dollars to 4 places, and the exact decimal (not a float rendering) on hover.
    html = resp.content.decode()
    total = records_sum("cost_usd", **rng)
    shown = f"${total.quantize(Decimal('0.0001'), rounding=ROUND_HALF_UP):,}"
    assert f'<dd id="total-cost"><span class="amount" title="${cost_format(total)}">{shown}</span></dd>' in html
    for name, column in (("model", "model"), ("provider", "provider"), ("client", "client_name")):
        rows = report.by_group[name]
        assert sum((r["cost_usd"] for r in rows), Decimal(0)) == report.totals["cost_usd"]
        for r in rows:
            assert r["cost_usd"] == records_sum("cost_usd", **rng, **{column: r["name"]})
    assert sum((r["cost_usd"] for r in report.by_day), Decimal(0)) == report.totals["cost_usd"]
    assert [r["day"] for r in report.by_day] == [date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 12)]


def test_chart_data_is_embedded_as_exact_strings_per_day_and_model(finance_client, records):
    html = finance_client.get(REPORT, RANGE).content.decode()
    start = html.index('<script id="finance-chart-data" type="application/json">') + len(
        '<script id="finance-chart-data" type="application/json">'
    )
    data = json.loads(html[start : html.index("</script>", start)])
    assert data["days"] == ["2026-03-10", "2026-03-11", "2026-03-12"]
    for series in data["series"]:
        for day, cost in zip(data["days"], series["costs"], strict=True):
            d = datetime.fromisoformat(day).replace(tzinfo=UTC)
            expected = records_sum(
                "cost_usd", model=series["model"], created_at__gte=d, created_at__lt=d + timedelta(days=1)
            )
            assert Decimal(cost) == expected
    assert 'src="/static/aiproxy/finance-chart.js"' in html


def test_drill_down_links_open_the_filtered_admin_list(finance_client, records):
    report = finance_client.get(REPORT, RANGE).context["report"]
    day = report.by_day[0]
    resp = finance_client.get(day["url"])
    assert resp.status_code == 200  # an unknown lookup would redirect with ?e=1
    assert resp.context["cl"].result_count == day["requests"]
    model = report.by_group["model"][0]
    resp = finance_client.get(model["url"])
    assert resp.status_code == 200
    assert resp.context["cl"].result_count == model["requests"]


def test_default_range_is_the_last_30_days(finance_client):
    record_create(timezone.now(), cost="0.5")
    record_create(timezone.now() - timedelta(days=31), cost="7")
    resp = finance_client.get(REPORT)
    report = resp.context["report"]
    assert (report.start, report.end) == default_range()
    assert report.totals["cost_usd"] == Decimal("0.5")


def test_an_inverted_range_is_an_error_not_a_crash(finance_client):
    resp = finance_client.get(REPORT, {"start": "2026-03-12", "end": "2026-03-10"})
    assert resp.status_code == 200
    assert resp.context["report"] is None
    assert "must not be after" in resp.content.decode()
    assert finance_client.get(EXPORT, {"start": "2026-03-12", "end": "2026-03-10"}).status_code == 400


# --- CSV --------------------------------------------------------------------------------
def test_csv_download_totals_equal_the_records_to_the_last_digit(finance_client, records):
    resp = finance_client.get(EXPORT, RANGE)
    assert resp.status_code == 200
    assert resp.streaming
    assert resp["Content-Type"].startswith("text/csv")
    rows = _csv(resp)
    rng = _in_range()
    assert len(rows) == CompletionRecord.objects.filter(**rng).count()
    assert sum(Decimal(r["cost_usd"]) for r in rows) == records_sum("cost_usd", **rng)
    assert sum(int(r["input_tokens"]) for r in rows) == records_sum("input_tokens", **rng)


def test_csv_has_the_exportcosts_columns(finance_client, base_day):
    from completions_app.services.cost_export import HEADER

    record_create(base_day + timedelta(hours=1), cost="0.000000000001")
    rows = _csv(finance_client.get(EXPORT, RANGE))
    assert list(rows[0]) == HEADER
    assert rows[0]["cost_usd"] == "0.000000000001"  # not 1E-12


def test_admin_list_csv_action_exports_the_selection(finance_client, records):
    changelist = reverse("admin:completions_app_completionrecord_changelist")
    rng = _in_range()
    ids = list(CompletionRecord.objects.filter(**rng).values_list("pk", flat=True)[:25])
    resp = finance_client.post(changelist, {"action": "export_csv", "_selected_action": [str(i) for i in ids]})
    assert resp.status_code == 200
    rows = _csv(resp)
    assert {r["request_id"] for r in rows} == set(
        CompletionRecord.objects.filter(pk__in=ids).values_list("request_id", flat=True)
    )
    assert sum(Decimal(r["cost_usd"]) for r in rows) == records_sum("cost_usd", pk__in=ids)


def test_csv_is_streamed_as_an_async_iterator_under_asgi(base_day):
    from asgiref.sync import async_to_sync
    from django.test import AsyncRequestFactory

    from completions_app.csv_download import BATCH_LINES, csv_streaming_response
    from completions_app.services.cost_export import records_select

    for i in range(BATCH_LINES + 5):  # more than one batch
        record_create(base_day + timedelta(seconds=i), cost="0.25")
    resp = csv_streaming_response(AsyncRequestFactory().get(EXPORT), records_select(), filename="x.csv")
    # Django buffers a sync iterator whole under ASGI; an async one is sent as it comes.
    assert resp.is_async

    async def chunks() -> list[bytes]:
        return [chunk async for chunk in resp.streaming_content]

    parts = async_to_sync(chunks)()
    assert len(parts) == 2
    rows = list(csv.DictReader(io.StringIO(b"".join(parts).decode())))
    assert len(rows) == BATCH_LINES + 5
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("0.25") * (BATCH_LINES + 5)
