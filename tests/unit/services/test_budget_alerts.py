"""Budget alerts: once per owner, period and fraction when settled spend crosses the fraction
of a budget (a warning line, ai_proxy_budget_alerts_total, the webhook's Celery task with its
JSON payload), across replicas through the shared state; and the task itself against a local
HTTP endpoint: retried on a 5xx or no connection, done on a 2xx, not retried on a 404, and
never logging the URL's query."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import REGISTRY

from aiproxy.celery import app
from completions_app.services.budget_alerts import WebhookFailed, alerts_check, alerts_drain, url_for_log
from completions_app.services.completion import completion_create
from completions_app.services.gateway_state import GatewayState, gateway_state_install
from completions_app.services.limit_types import Admission, Ask, Limits, Owner, Spend
from completions_app.services.limits_local import LocalLimiter
from completions_app.tasks import budget_alert_post
from providers_app.errors import BudgetExceeded

pytestmark = pytest.mark.django_db(transaction=True)

NOW = 1_794_999_990.0  # 2026-11-18 11:06:30 UTC


class Webhook:
    """A local endpoint answering POSTs with the statuses given, then 200; keeps what it got."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[str, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append((self.path, json.loads(body)))
                self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/budget?token=s3cret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def eager(monkeypatch):
    """The task runs where it is queued (the embedded default; CI may configure a broker)."""
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)


@pytest.fixture
def worker_like(eager, monkeypatch):
    """Eager, but a failure is the task's result (as on a worker), so retries run again
    (without their countdown) instead of the first Retry being raised to the caller."""
    monkeypatch.setitem(app.conf, "task_eager_propagates", False)


def alerts(fraction: str, period: str) -> float:
    return REGISTRY.get_sample_value("ai_proxy_budget_alerts_total", {"fraction": fraction, "period": period}) or 0.0


def owner_with(url: str = "", **limits: object) -> Owner:
    return Owner(kind="team", id=41, name="search", limits=Limits(alert_webhook_url=url, **limits))


def admission(owner: Owner, day: str = "2026-11-18", month: str = "2026-11") -> Admission:
    return Admission(id="r1", owners=(owner,), ask=Ask(tokens=1, cost=Decimal(0)), minute=0, day=day, month=month)


async def test_alerts_fire_once_per_fraction_and_period_through_the_request_path(gw, gw_state, webhook, eager, caplog):
    gw_state.limiter = LocalLimiter(clock=lambda: NOW)
    owner = Owner(
        kind="key",
        id=gw.client.id,
        name=gw.client.name,
        limits=Limits(
            budget_usd_day=Decimal("0.00001"),
            budget_usd_month=Decimal("0.0001"),
            alert_fractions=(Decimal("0.5"), Decimal("0.9")),
            alert_webhook_url=webhook.url,
        ),
    )
    gw.client = replace(gw.client, owners=(owner,))
    before = (alerts("0.5", "day"), alerts("0.9", "day"), alerts("0.5", "month"))
    # 3 µ$ a request (4 in, 4 out): 3, 6 (crosses 0.5 of 10 µ$), 9 (crosses 0.9); the fourth
    # cannot fit (9 + its 3.15 µ$ maximum > 10).
    for i in range(3):
        await completion_create(gw.inp(text=f"one two three {i}", max_tokens=4), gw.ctx())
        await alerts_drain()
    with pytest.raises(BudgetExceeded):
        await completion_create(gw.inp(text="one two three four", max_tokens=4), gw.ctx())
    await alerts_drain()

    assert (alerts("0.5", "day"), alerts("0.9", "day"), alerts("0.5", "month")) == (
        before[0] + 1,
        before[1] + 1,
        before[2],
    )
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("budget alert:")]
    assert lines == [
        "budget alert: key:svc-tester spent 0.000006 USD of its day budget of 0.00001 USD (crossed 0.5)",
        "budget alert: key:svc-tester spent 0.000009 USD of its day budget of 0.00001 USD (crossed 0.9)",
    ]
    assert [path for path, _ in webhook.received] == ["/hooks/budget?token=s3cret-token"] * 2
    payloads = [payload for _, payload in webhook.received]
    assert [{k: v for k, v in p.items() if k != "at"} for p in payloads] == [
        {
            "owner": "key:svc-tester",
            "period": "day",
            "fraction": "0.5",
            "spend_usd": "0.000006",
            "budget_usd": "0.00001",
        },
        {
            "owner": "key:svc-tester",
            "period": "day",
            "fraction": "0.9",
            "spend_usd": "0.000009",
            "budget_usd": "0.00001",
        },
    ]
    assert all(p["at"].endswith("+00:00") for p in payloads)
    assert "s3cret" not in caplog.text


async def test_a_new_period_alerts_again_and_a_team_without_a_webhook_only_logs(gw_state, caplog):
    owner = owner_with(budget_usd_month=Decimal("10"), alert_fractions=(Decimal("0.8"),))
    spend = (Spend(owner=owner, day_usd=Decimal("8"), month_usd=Decimal("8")),)
    before = alerts("0.8", "month")
    for month in ("2026-11", "2026-11", "2026-12", "2026-12"):
        alerts_check(spend, admission(owner, month=month))
        await alerts_drain()
    assert alerts("0.8", "month") == before + 2
    assert caplog.text.count("budget alert: team:search spent 8 USD of its month budget of 10 USD (crossed 0.8)") == 2


async def test_below_every_fraction_nothing_runs(gw_state):
    owner = owner_with(budget_usd_day=Decimal("10"), alert_fractions=(Decimal("0.8"), Decimal("1")))
    alerts_check((Spend(owner=owner, day_usd=Decimal("7.99"), month_usd=Decimal("7.99")),), admission(owner))
    from completions_app.services import budget_alerts

    assert not budget_alerts._tasks  # not even a background task was started


@pytest.mark.redis
async def test_two_replicas_on_one_redis_alert_once(settings, use_redis, caplog):
    owner = owner_with(budget_usd_day=Decimal("10"), alert_fractions=(Decimal("1"),))
    spend = (Spend(owner=owner, day_usd=Decimal("10.5"), month_usd=Decimal("10.5")),)
    before = alerts("1", "day")
    replicas = [GatewayState.create(settings.REDIS_URL, redis_timeout_s=1.0) for _ in range(2)]
    previous = gateway_state_install(None)
    try:
        for state in replicas * 2:
            gateway_state_install(state)
            alerts_check(spend, admission(owner))
            await alerts_drain()
    finally:
        gateway_state_install(previous)
        for state in replicas:
            await state.aclose()
    assert alerts("1", "day") == before + 1
    assert caplog.text.count("budget alert: team:search") == 1
    assert use_redis.exists("aiproxy:alert:team:41:day:2026-11-18:1:10")


# --- the task ---------------------------------------------------------------------------------
PAYLOAD = {"owner": "team:search", "period": "day", "fraction": "0.8", "spend_usd": "8", "budget_usd": "10", "at": "x"}


def test_the_task_retries_a_failing_webhook_until_it_takes_the_alert(worker_like, caplog):
    hook = Webhook(500, 503)
    try:
        result = budget_alert_post.apply(args=(hook.url, PAYLOAD))
        assert result.get() == 200
        assert [payload for _, payload in hook.received] == [PAYLOAD] * 3
    finally:
        hook.close()
    assert "s3cret" not in caplog.text


def test_a_webhook_that_refuses_for_good_is_not_retried(worker_like, caplog):
    hook = Webhook(404)
    try:
        assert budget_alert_post.apply(args=(hook.url, PAYLOAD)).get() == 404
        assert len(hook.received) == 1
    finally:
        hook.close()
    assert "/hooks/budget refused the alert with 404" in caplog.text
    assert "s3cret" not in caplog.text


def test_an_unreachable_webhook_is_retried_then_fails_without_its_query(worker_like, caplog):
    hook = Webhook()
    url = hook.url
    hook.close()  # nothing listens there now
    result = budget_alert_post.apply(args=(url, PAYLOAD))
    assert result.state == "FAILURE" and isinstance(result.result, WebhookFailed)
    assert result.result.args == (f"budget alert webhook {url_for_log(url)}: URLError",)
    assert "s3cret" not in str(result.result) and "/hooks/budget" in str(result.result)
    assert result.result.__cause__ is None and result.result.__suppress_context__
    assert "s3cret" not in caplog.text
    assert caplog.text.count("retry: Retry in") == budget_alert_post.max_retries  # then it gave up
    assert budget_alert_post.autoretry_for == (WebhookFailed,)
    assert budget_alert_post.retry_backoff and budget_alert_post.max_retries >= 3


def test_urls_are_logged_without_credentials_or_query():
    assert url_for_log("https://user:pw@hooks.example:8443/a/b?token=x#frag") == "https://hooks.example:8443/a/b"
