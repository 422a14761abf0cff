"""Every metric the gateway exports (the services record them; aiproxy/runtime.py serves them on
METRICS_PORT). The first six names and labels are the contract (docs/operations.md); label values are the public model name and the
provider's configured name, never a key.

With PROMETHEUS_MULTIPROC_DIR set (serve --workers N), prometheus_client
writes per-process files and the exporter aggregates them. The same exporter
serves django-prometheus's `django_http_*` (the pages Django serves, not /v1)
and `django_db_*` metrics (aiproxy/settings.py): other prefixes, no clash.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

# LLM calls last seconds to minutes: buckets reach 120 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 90, 120)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)

requests_total = Counter("ai_proxy_requests_total", "Completion requests.", ["model", "provider", "status"])
request_duration_seconds = Histogram(
    "ai_proxy_request_duration_seconds", "End-to-end request duration.", ["model", "provider"], buckets=LATENCY_BUCKETS
)
tokens_used_total = Counter("ai_proxy_tokens_used_total", "Tokens used.", ["model", "provider", "type"])
cost_total = Counter("ai_proxy_cost_total", "Cost in USD.", ["model", "provider"])
cache_hits_total = Counter("ai_proxy_cache_hits_total", "Response cache lookups.", ["result"])
circuit_breaker_state = Gauge(
    "ai_proxy_circuit_breaker_state",
    "0 closed, 1 half-open, 2 open.",
    ["provider"],
    multiprocess_mode="max",
)

in_flight = Gauge("ai_proxy_requests_in_flight", "Requests being served.", multiprocess_mode="livesum")
upstream_duration_seconds = Histogram(
    "ai_proxy_upstream_duration_seconds", "Upstream call duration.", ["provider"], buckets=LATENCY_BUCKETS
)
ttft_seconds = Histogram(
    "ai_proxy_time_to_first_token_seconds", "Time to the first streamed token.", ["provider"], buckets=LATENCY_BUCKETS
)
overhead_seconds = Histogram(
    "ai_proxy_gateway_overhead_seconds", "Time spent in the gateway outside upstream calls.", buckets=OVERHEAD_BUCKETS
)
failovers_total = Counter(
    "ai_proxy_failovers_total", "Moves to the next model in a fallback chain.", ["from_model", "to_model"]
)
key_cooldowns_total = Counter(
    "ai_proxy_key_cooldowns_total", "Provider keys put in cooldown after a 429.", ["provider"]
)
record_queue_depth = Gauge(
    "ai_proxy_record_queue_depth", "Audit records waiting to be written.", multiprocess_mode="livesum"
)
records_written_total = Counter("ai_proxy_records_written_total", "Audit records written to the database.")
records_dropped_total = Counter("ai_proxy_records_dropped_total", "Audit records dropped because the queue was full.")
unauthenticated_total = Counter(
    "ai_proxy_unauthenticated_total",
    "Completion requests refused before their client key was accepted (no record is written for them).",
    ["interface"],
)
record_write_errors_total = Counter("ai_proxy_record_write_errors_total", "Failed batch writes (retried).")


class Children:
    """A metric's labelled children, looked up by their label values (in the
    metric's label order). `metric.labels(...)` checks and converts its arguments
    and takes a lock on every call (~2-4 µs); a cached child costs a dict lookup.
    Children are the same objects `labels()` returns, so names and values are unchanged.
    Bounded: label values can come from clients (an unknown model's name)."""

    __slots__ = ("_metric", "_children")
    MAX = 4096

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def get(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            if len(self._children) >= self.MAX:
                self._children.clear()
            child = self._children[values] = self._metric.labels(*values)
        return child


# --- budgets and rate limits (completions_app/services/limits*.py) -----------------------
limits_exact = Gauge(
    "ai_proxy_limits_exact",
    "1 while budgets and rate limits are enforced exactly (Redis, or one process without it); "
    "0 while Redis is unavailable and each process enforces them alone (approximate).",
    multiprocess_mode="livemin",
)
limits_fallback_total = Counter(
    "ai_proxy_limits_fallback_total",
    "Limit operations answered per process because Redis was unavailable.",
    ["op"],
)


# --- budgets and rate limits: the request path's refusals and the budget alerts (issue 15) ----
limit_rejections_total = Counter(
    "ai_proxy_limit_rejections_total",
    "Requests refused by a limit of their client key or team.",
    ["limit"],  # rpm | tpm | concurrency | budget_usd_day | budget_usd_month
)
budget_alerts_total = Counter(
    "ai_proxy_budget_alerts_total",
    "Budget alerts raised: spend crossed an admin-set fraction of a budget (once per period).",
    ["fraction", "period"],  # period: day | month
)
