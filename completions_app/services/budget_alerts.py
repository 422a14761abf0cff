"""Budget alerts: when an owner's settled spend crosses an admin-set fraction of its day or
month budget (Limits.alert_fractions), once per period across replicas: a warning line, the
`ai_proxy_budget_alerts_total{fraction,period}` metric, and, when the admin set a webhook, a
POST by a Celery task (completions_app.tasks.budget_alert_post, retried with backoff).

Never on the request path: after a settle, `alerts_check` compares numbers it already has
and, only when some fraction is crossed, starts a background task. "Once" is a SET NX on the
gateway's shared state (Redis: across replicas; in-process without it); this process also
remembers the keys it has set, so a crossed fraction costs one round trip per period, not
one per request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from completions_app import metrics

from .gateway_state import gateway_state
from .limit_types import Admission, Owner, Spend
from .shared_state import SharedState, StateUnavailable

log = logging.getLogger(__name__)

WEBHOOK_TASK = "completions_app.tasks.budget_alert_post"
# A period's key outlives the period (and a clock's skew between replicas), then expires.
KEY_TTL_S = {"day": 2 * 86_400.0, "month": 33 * 86_400.0}
MEMO_MAX = 10_000
WEBHOOK_TIMEOUT_S = 10.0
RETRIED_STATUSES = frozenset({408, 425, 429})  # and every 5xx; another 4xx will not change

_alerts = metrics.Children(metrics.budget_alerts_total)  # fraction, period
_tasks: set[asyncio.Task[Any]] = set()
# Keys this process has set or found set, per shared-state backend (tests make a new one each).
_memo: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Alert:
    owner: Owner
    period: str  # "day" | "month"
    when: str  # the period: "YYYY-MM-DD" | "YYYY-MM"
    fraction: Decimal
    spend: Decimal
    budget: Decimal

    @property
    def key(self) -> str:
        return f"alert:{self.owner.ref}:{self.period}:{self.when}:{_plain(self.fraction)}:{_plain(self.budget)}"

    def payload(self) -> dict[str, str]:
        # Decimals as strings, as the gateway's costs are everywhere: exact.
        return {
            "owner": self.owner.label,
            "period": self.period,
            "fraction": _plain(self.fraction),
            "spend_usd": _plain(self.spend),
            "budget_usd": _plain(self.budget),
            "at": datetime.now(UTC).isoformat(),
        }


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def background(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run `coro` in a task that nothing waits for (kept referenced until done; the
    coroutine logs its own failures). `alerts_drain` waits for them (tests, shutdown)."""
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def alerts_drain() -> None:
    """Wait for the settles and alerts still running."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)


def alerts_due(spends: tuple[Spend, ...], admission: Admission) -> list[Alert]:
    """Every (owner, period, fraction) whose threshold the settled spend has reached."""
    due: list[Alert] = []
    for spend in spends:
        limits = spend.owner.limits
        if not limits.alert_fractions:
            continue
        for period, when, budget, spent in (
            ("day", admission.day, limits.budget_usd_day, spend.day_usd),
            ("month", admission.month, limits.budget_usd_month, spend.month_usd),
        ):
            if budget is None or budget <= 0:
                continue
            due.extend(
                Alert(spend.owner, period, when, f, spent, budget)
                for f in limits.alert_fractions
                if spent >= f * budget
            )
    return due


def alerts_check(spends: tuple[Spend, ...], admission: Admission) -> None:
    """After a settle: raise the alerts now due, in the background."""
    due = alerts_due(spends, admission)
    if not due:
        return
    shared = gateway_state().shared
    seen = _memo.setdefault(shared, set())
    due = [a for a in due if a.key not in seen]
    if due:
        background(_raise(due, shared, seen))


async def _raise(due: list[Alert], shared: SharedState, seen: set[str]) -> None:
    for alert in due:
        try:
            first = await shared.set(alert.key, "1", ttl_s=KEY_TTL_S[alert.period], nx=True)
        except StateUnavailable:
            log.warning("budget alert for %s not checked: shared state unavailable", alert.owner.label)
            continue  # not remembered: the next settle tries again
        except Exception:
            log.exception("budget alert for %s failed", alert.owner.label)
            continue
        if len(seen) >= MEMO_MAX:
            seen.clear()
        seen.add(alert.key)
        if first:
            await _announce(alert)


async def _announce(alert: Alert) -> None:
    log.warning(
        "budget alert: %s spent %s USD of its %s budget of %s USD (crossed %s)",
        alert.owner.label,
        _plain(alert.spend),
        alert.period,
        _plain(alert.budget),
        _plain(alert.fraction),
    )
    _alerts.get(_plain(alert.fraction), alert.period).inc()
    url = alert.owner.limits.alert_webhook_url
    if url:
        try:
            # On a thread: the broker may be remote (and in eager mode the POST runs right here).
            await asyncio.to_thread(_enqueue, url, alert.payload())
        except Exception:
            log.exception("budget alert webhook for %s failed or could not be queued", alert.owner.label)


def _enqueue(url: str, payload: dict[str, str]) -> None:
    # Celery loads on first use, not in serve; the task is named, not imported (it lives in the
    # interfaces layer, above this one), and found the way a worker finds it (autodiscover).
    from aiproxy.celery import app  # noqa: PLC0415

    if WEBHOOK_TASK not in app.tasks:
        app.loader.import_default_modules()
    app.signature(WEBHOOK_TASK, args=(url, payload)).delay()


# --- the webhook's POST (run by the Celery task) ------------------------------------------------
class WebhookFailed(Exception):
    """The webhook did not take the alert and may later (no connection, a timeout, a 5xx,
    408, 425, 429): the task retries. The message names the URL without its query."""


def url_for_log(url: str) -> str:
    """The URL without credentials, query or fragment: a webhook's query may hold a token."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def webhook_post(url: str, payload: dict[str, str], *, timeout_s: float = WEBHOOK_TIMEOUT_S) -> int:
    """POST the alert as JSON; the answer's status. Raises WebhookFailed when worth retrying;
    a refusal that will not change (another 4xx, not http/https) is logged and returned."""
    where = url_for_log(url)
    if urlsplit(url).scheme not in ("http", "https"):
        log.error("budget alert webhook %s: not an http(s) URL; not sent", where)
        return 0
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "aiproxy-budget-alert"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - checked above
            return int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
    except (OSError, ValueError) as exc:  # URLError, a timeout, a refused connection, a bad URL
        # `from None`: the original's text may carry the whole URL.
        raise WebhookFailed(f"budget alert webhook {where}: {type(exc).__name__}") from None
    if status >= 500 or status in RETRIED_STATUSES:
        raise WebhookFailed(f"budget alert webhook {where} answered {status}")
    log.error("budget alert webhook %s refused the alert with %s; not retried", where, status)
    return status
