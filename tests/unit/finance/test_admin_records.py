"""The records list and page in the admin, for a superuser and a finance member: totals equal to the
sums, the report's drill-down range as an active filter, money readable and exact, no dead links."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse

from completions_app.admin_format import usd_text
from completions_app.admin_records import TOTAL_PLACES
from completions_app.models import ClientKey, CompletionRecord, CostRollup
from completions_app.services.client_keys import client_key_create
from completions_app.services.cost import cost_format
from metrics_app.finance import records_admin_url

from .conftest import random_records, record_create, records_sum

CHANGELIST = "admin:completions_app_completionrecord_changelist"


def _totals(html: str) -> dict[str, str]:
    """{"requests": "1,234", "cost": "$1.234568", "cost-exact": "1.2345678", ...} from the totals line."""
    out = {}
    for name, attrs, text in re.findall(r'id="totals-([a-z-]+)"([^>]*)>([^<]*)<', html):
        out[name] = text
        if exact := re.search(r'data-exact="([^"]+)"', attrs):
            out[f"{name}-exact"] = exact.group(1)
    return out


@pytest.fixture
def records(db, base_day):
    return random_records(base_day, days=21, n=300)


@pytest.mark.parametrize("who", ["superuser", "finance"])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"created_at__date__gte": "2026-03-14", "created_at__date__lte": "2026-03-20", "model": "gpt-4o-mini"},
        {"created_at__date": "2026-03-15"},
        {"status__exact": "cache_hit", "client_name": "team-b"},
        # The report's other links: the "(unknown model)" row lists names; a team, its keys.
        {"created_at__date__gte": "2026-03-12", "created_at__date__lte": "2026-03-25", "model__in": "llama3,nope"},
        {"client__in": "CLIENT_IDS"},
    ],
)
def test_totals_line_equals_the_sums_of_the_filtered_records(records, admin_client, finance_client, who, filters):
    client = admin_client if who == "superuser" else finance_client
    if filters.get("client__in") == "CLIENT_IDS":  # two keys' records, as a team's link has them
        keys = [client_key_create(name=n)[0] for n in ("team-a", "team-b")]
        for key in keys:
            CompletionRecord.objects.filter(client_name=key.name).update(client=key)
        filters = {"client__in": ",".join(str(k.pk) for k in keys)}
    resp = client.get(f"{reverse(CHANGELIST)}?{'&'.join(f'{k}={v}' for k, v in filters.items())}")
    assert resp.status_code == 200
    html = resp.content.decode()
    lookups = {}
    for key, value in filters.items():
        if key == "created_at__date":
            lookups.update(created_at__date__gte=value, created_at__date__lte=value)
        elif key.endswith("__in"):
            lookups[key] = value.split(",")
        else:
            lookups[key] = value
    qs = CompletionRecord.objects.filter(**lookups)
    assert qs.count() > 0
    totals = _totals(html)
    assert totals["requests"] == f"{qs.count():,}"
    assert totals["input-tokens"] == f"{records_sum('input_tokens', **lookups):,}"
    assert totals["output-tokens"] == f"{records_sum('output_tokens', **lookups):,}"
    cost, saved = records_sum("cost_usd", **lookups), records_sum("cost_saved_usd", **lookups)
    assert Decimal(totals["cost-exact"]) == cost and totals["cost"] == usd_text(cost, TOTAL_PLACES)
    assert Decimal(totals["saved-exact"]) == saved and totals["saved"] == usd_text(saved, TOTAL_PLACES)


def test_the_reports_links_arrive_as_active_removable_date_filters(records, finance_client):
    html = finance_client.get(
        records_admin_url(created_at__date__gte="2026-03-14", created_at__date__lte="2026-03-20", model="llama3")
    ).content.decode()
    filters = html[html.index('id="changelist-filter"') :]
    selected = re.findall(r'<li class="selected">\s*<a href="([^"]*)"[^>]*>([^<]*)</a>', filters)
    assert (
        "?created_at__date__gte=2026-03-14&amp;created_at__date__lte=2026-03-20&amp;model=llama3",
        "2026-03-14 – 2026-03-20",
    ) in selected
    # "Any date" removes the range and keeps the model.
    any_date = re.search(r'<a href="([^"]*)"[^>]*>Any date</a>', filters).group(1)
    assert unescape(any_date) == "?model=llama3"
    one_day = finance_client.get(records_admin_url(created_at__date="2026-03-15")).content.decode()
    assert re.search(r'<li class="selected">\s*<a href="[^"]*">2026-03-15</a>', one_day)


@pytest.mark.parametrize("bad", ["created_at__date=yesterday", "created_at__date__gte=2026-13-01"])
def test_a_bad_date_is_the_admins_error_not_a_500(records, finance_client, bad):
    resp = finance_client.get(f"{reverse(CHANGELIST)}?{bad}")
    assert resp.status_code == 302 and resp.url.endswith("?e=1")


def test_cost_in_dollars_with_6_places_exact_on_hover(db, base_day, finance_client):
    record_create(base_day, cost="0.000147750000")
    html = finance_client.get(reverse(CHANGELIST)).content.decode()
    assert '<span class="usd" title="$0.00014775" data-exact="0.00014775">$0.000148</span>' in html
    assert "0.000147750000" not in html
    for header in ("Created", "Client", "Model", "Status", "Tokens in / out", "Cost", "Latency (ms)"):
        assert re.search(rf'<div class="text">(<a[^>]*>|<span>){re.escape(header)}(</a>|</span>)</div>', html), header
    assert usd_text(Decimal("1234.5678915")) == "$1,234.567892" and usd_text(Decimal("0")) == "$0.000000"
    assert usd_text(Decimal("0.0000004")) == "<$0.000001" and usd_text(Decimal("-0.0000004")) == ">-$0.000001"


def _links(html: str) -> set[str]:
    hrefs = {unescape(h) for h in re.findall(r'href="([^"#][^"]*)"', html)}
    return {h for h in hrefs if h.startswith("/") and not h.startswith("/static/")}


def _record_with_client(base_day) -> CompletionRecord:
    key, _ = client_key_create(name="team-a")
    record = record_create(base_day)
    CompletionRecord.objects.filter(pk=record.pk).update(
        client=key,
        attempts=[
            {"model": "gpt-4o-mini", "provider": "oa", "key": "key1", "outcome": "upstream_timeout"},
            {"model": "gpt-4o-mini", "provider": "oa", "key": "key2", "outcome": "ok"},
        ],
        ttft_ms=123.4,
        latency_ms=2345.6,
    )
    record.refresh_from_db()
    return record


def test_finance_user_is_never_shown_a_link_they_cannot_follow(db, base_day, finance_client):
    record = _record_with_client(base_day)
    pages = [
        reverse("admin:index"),
        reverse(CHANGELIST),
        reverse("admin:completions_app_completionrecord_change", args=[record.pk]),
        reverse("admin:completions_app_costrollup_changelist"),
    ]
    client_url = reverse("admin:completions_app_clientkey_change", args=[record.client_id])
    seen: set[str] = set()
    for page in pages:
        resp = finance_client.get(page)
        assert resp.status_code == 200, page
        html = resp.content.decode()
        assert client_url not in html
        assert "View site" not in html
        seen |= _links(html)
    assert reverse("finance:report") in seen
    for link in sorted(seen - {reverse("admin:logout")}):
        assert finance_client.get(link).status_code == 200, link


def test_superuser_sees_the_client_link_and_the_record_page_grouped(db, base_day, admin_client):
    record = _record_with_client(base_day)
    client_url = reverse("admin:completions_app_clientkey_change", args=[record.client_id])
    assert f'<a href="{client_url}">team-a</a>' in admin_client.get(reverse(CHANGELIST)).content.decode()
    html = admin_client.get(reverse("admin:completions_app_completionrecord_change", args=[record.pk])).content.decode()
    assert f'<a href="{client_url}">{ClientKey.objects.get()}</a>' in html
    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>", html)
    assert [h for h in headings if h in ("Request", "Routing and attempts", "Usage and cost", "Timing")] == [
        "Request",
        "Routing and attempts",
        "Usage and cost",
        "Timing",
    ]
    # Attempts as a table, in order; not raw JSON.
    assert re.search(
        r"<td>1</td><td>gpt-4o-mini</td><td>oa</td><td>key1</td><td><span class=\"attempt-failed\">"
        r"upstream_timeout</span></td>",
        html,
    )
    assert '<span class="attempt-ok">ok</span>' in html and '"outcome"' not in html
    # Exact cost beside the rounded one; words for labels.
    assert cost_format(record.cost_usd) in html and usd_text(record.cost_usd) in html
    for label in (
        "Cost (USD, exact)",
        "HTTP status",
        "Time to first token (ms)",
        "Latency (ms)",
        "Request ID",
        "Input price (USD per 1M tokens)",
    ):
        assert f"{label}:" in html, label
    for raw in ("Ttft ms", "Http status", "Cost usd", "Latency ms", "Input price per mtok"):
        assert raw not in html, raw


def test_the_record_page_shows_every_field(db, base_day, finance_client):
    """A field added to the record later is on its page too (or this test says which is missing)."""
    record = _record_with_client(base_day)
    html = finance_client.get(
        reverse("admin:completions_app_completionrecord_change", args=[record.pk])
    ).content.decode()
    shown_as = {"client": "client_key_plain", "attempts": "attempts_table", "id": None}
    for f in CompletionRecord._meta.fields:
        name = shown_as.get(f.name, f.name)
        if name is not None:
            assert f"field-{name}" in html, f.name


def test_cost_rollups_are_there_without_a_beat(db, base_day, finance_client):
    """The list brings roll-ups up to date from the records when it is opened (no Celery beat)."""
    from datetime import UTC, datetime

    now = datetime.now(tz=UTC).replace(microsecond=0)
    for hours in (1, 30, 50):
        record_create(now - timedelta(hours=hours), cost="0.5")
    assert CostRollup.objects.count() == 0
    html = finance_client.get(reverse("admin:completions_app_costrollup_changelist")).content.decode()
    days = CostRollup.objects.filter(period=CostRollup.Period.DAY)
    assert sum(r.requests for r in days) == 3
    assert sum((r.cost_usd for r in days), Decimal(0)) == Decimal("1.5")
    assert 'id="rollup-note"' in html and "$0.500000" in html
    # A record arriving later is in the next opening a minute on (at most one run a minute).
    record_create(now, cost="0.25")
    finance_client.get(reverse("admin:completions_app_costrollup_changelist"))
    assert sum(r.requests for r in CostRollup.objects.filter(period=CostRollup.Period.DAY)) == 3
    CostRollup.objects.update(updated_at=now - timedelta(minutes=2))
    finance_client.get(reverse("admin:completions_app_costrollup_changelist"))
    assert sum(r.requests for r in CostRollup.objects.filter(period=CostRollup.Period.DAY)) == 4


def test_staff_without_finance_rights_sees_no_report_link(db, client, django_user_model):
    user = django_user_model.objects.create_user("plain", "p@example.com", "pw-123456789", is_staff=True)
    client.force_login(user)
    html = client.get(reverse("admin:index")).content.decode()
    assert reverse("finance:report") not in html and "View site" not in html


def test_day_range_covers_whole_local_days(db, settings, finance_client):
    """Days are the site's calendar days: 23:30 local on the 14th is the 14th, even when UTC says 15th."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    settings.TIME_ZONE = "America/New_York"
    tz = ZoneInfo("America/New_York")
    inside = record_create(datetime(2026, 3, 14, 23, 30, tzinfo=tz), cost="1")
    record_create(datetime(2026, 3, 15, 0, 30, tzinfo=tz), cost="2")
    html = finance_client.get(records_admin_url(created_at__date=date(2026, 3, 14).isoformat())).content.decode()
    assert _totals(html)["requests"] == "1" and Decimal(_totals(html)["cost-exact"]) == inside.cost_usd
