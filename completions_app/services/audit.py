"""One place turns the outcome of a request into its audit record and its metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from completions_app import metrics
from providers_app.adapters.types import Message, Usage

from ..models import CompletionRecord
from .catalog import catalog_has_model
from .cost import Prices
from .limit_types import Admission, Limiter
from .record_text import row_storable
from .recorder import RecordRow, record_submit
from .types import Attempt, CallContext, CompletionInput, EmbeddingInput

ZERO = Decimal(0)
UNKNOWN_MODEL = "unknown"  # the metrics' model label for a model the catalog does not serve


def estimate_tokens(text: str) -> int:
    """~4 characters per token: used only when a provider sent no usage."""
    return math.ceil(len(text) / 4) if text else 0


def estimate_input_tokens(messages: tuple[Message, ...]) -> int:
    return sum(estimate_tokens(m.content) for m in messages)


@dataclass(slots=True)
class Outcome:
    """Everything the record needs; filled in as the request goes."""

    ctx: CallContext
    inp: CompletionInput | EmbeddingInput  # the record reads its `model` and `user`
    stream: bool
    started_at: object = field(default_factory=timezone.now)
    served_model: str = ""
    provider: str = ""
    provider_key: str = ""
    status: str = CompletionRecord.Status.OK
    error_type: str = ""
    http_status: int = 200
    usage: Usage = field(default_factory=Usage)
    prices: Prices | None = None
    cost: Decimal = ZERO
    cost_saved: Decimal = ZERO
    usage_estimated: bool = False
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    cached: bool = False
    finish_reason: str | None = None
    stop_sequence: str | None = None  # which stop sequence ended choice 0, when the provider said
    attempts: list[Attempt] = field(default_factory=list)
    upstream_s: float = 0.0  # time spent waiting on providers, for the overhead metric
    # A limited key's request let in and the limiter that let it in (settled once, at the end).
    admission: Admission | None = None
    limiter: Limiter | None = None
    limit_hit: str = ""  # refused by a limit: "<owner label>:<limit>" (key:ci-bot:rpm)


# Labelled children looked up once per label values (metrics.Children): outcome_finish runs per request.
_requests = metrics.Children(metrics.requests_total)  # model, provider, status
_durations = metrics.Children(metrics.request_duration_seconds)  # model, provider
_tokens = metrics.Children(metrics.tokens_used_total)  # model, provider, type
_costs = metrics.Children(metrics.cost_total)  # model, provider


def outcome_finish(o: Outcome) -> None:
    """Submit the record and update the metrics. Called exactly once per request."""
    p = o.prices
    usage = o.usage
    ctx = o.ctx
    # Storable texts before the row is queued: a database that refuses a row's text would cost the record.
    record_submit(
        row_storable(
            RecordRow(
                created_at=o.started_at,
                request_id=ctx.request_id,
                client_id=ctx.client.id,
                client_name=ctx.client.name,
                interface=ctx.interface,
                model=o.inp.model,
                served_model=o.served_model,
                provider=o.provider,
                provider_key=o.provider_key,
                status=o.status,
                error_type=o.error_type,
                http_status=o.http_status,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                input_price_per_mtok=p.input if p else None,
                output_price_per_mtok=p.output if p else None,
                cache_read_price_per_mtok=p.cache_read if p else None,
                cache_write_price_per_mtok=p.cache_write if p else None,
                cost_usd=o.cost,
                cost_saved_usd=o.cost_saved,
                usage_estimated=o.usage_estimated,
                latency_ms=round(o.latency_ms, 3),
                ttft_ms=round(o.ttft_ms, 3) if o.ttft_ms is not None else None,
                cached=o.cached,
                stream=o.stream,
                finish_reason=o.finish_reason or "",
                attempts=[a.as_dict() for a in o.attempts],
                limit_hit=o.limit_hit,
                end_user=o.inp.user or "",
                cache_write_1h_tokens=usage.cache_write_1h_tokens,
                cache_write_1h_price_per_mtok=p.cache_write_1h_or_5m if p else None,
            )
        )
    )

    # A model label only for models the gateway serves: the name a client sent for an unknown
    # model would give every junk name its own series (unbounded cardinality).
    model = o.served_model or (o.inp.model if catalog_has_model(o.inp.model) else UNKNOWN_MODEL)
    provider = o.provider or "none"
    _requests.get(model, provider, o.status).inc()
    _durations.get(model, provider).observe(o.latency_ms / 1000)
    metrics.overhead_seconds.observe(max(0.0, o.latency_ms / 1000 - o.upstream_s))
    # Cache hits carry no tokens (nothing was used upstream): no series for zeros.
    if usage.input_tokens:
        _tokens.get(model, provider, "input").inc(usage.input_tokens)
    if usage.output_tokens:
        _tokens.get(model, provider, "output").inc(usage.output_tokens)
    if usage.cache_read_tokens:
        _tokens.get(model, provider, "cache_read").inc(usage.cache_read_tokens)
    if usage.cache_write_tokens:
        _tokens.get(model, provider, "cache_write").inc(usage.cache_write_tokens)
    if o.cost:
        _costs.get(model, provider).inc(float(o.cost))
