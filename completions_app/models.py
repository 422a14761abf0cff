"""Client keys and the per-request audit record."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models

COST = {"max_digits": 24, "decimal_places": 12}
PRICE = {"max_digits": 14, "decimal_places": 6}
BUDGET = {**PRICE, "validators": [MinValueValidator(Decimal(0))]}
ALERT_FRACTION_MAX = Decimal("1.5")
# What PostgreSQL's integer column holds (SQLite would hold more: same rule on both).
COUNT_LIMIT = [MinValueValidator(1), MaxValueValidator(2**31 - 1)]


def alert_fractions_parse(value: str) -> tuple[Decimal, ...]:
    """ "0.8, 1.0" -> (Decimal("0.8"), Decimal("1.0")): sorted, without repeats; "" = no alerts.
    ValidationError unless each is a decimal in (0, 1.5] (above 1: spend past the budget,
    which requests in flight may overshoot by up to what they reserved)."""
    if not value.strip():
        return ()
    fractions: set[Decimal] = set()
    for part in value.split(","):
        text = part.strip()
        try:
            fraction = Decimal(text)
        except InvalidOperation:
            raise ValidationError(f"Not a decimal number: {text!r}.", code="invalid") from None
        if not fraction.is_finite() or not Decimal(0) < fraction <= ALERT_FRACTION_MAX:
            raise ValidationError(f"Each fraction must be above 0 and at most {ALERT_FRACTION_MAX}: {text}.")
        fractions.add(fraction)
    return tuple(sorted(fractions))


def alert_fractions_validate(value: str) -> None:
    alert_fractions_parse(value)


class LimitFields(models.Model):
    """Budgets and rate limits, each optional (empty = no limit): on a client key and on a team.
    A request must fit every limit of its key and of its key's team."""

    rpm = models.PositiveIntegerField(null=True, blank=True, validators=COUNT_LIMIT, help_text="Requests per minute.")
    tpm = models.PositiveIntegerField(
        null=True, blank=True, validators=COUNT_LIMIT, help_text="Input + output tokens per minute."
    )
    concurrency = models.PositiveIntegerField(
        null=True, blank=True, validators=COUNT_LIMIT, help_text="Requests in flight at once."
    )
    budget_usd_day = models.DecimalField(
        **BUDGET, null=True, blank=True, help_text="USD per calendar day (in TIME_ZONE)."
    )
    budget_usd_month = models.DecimalField(
        **BUDGET, null=True, blank=True, help_text="USD per calendar month (in TIME_ZONE)."
    )
    alert_fractions = models.CharField(
        max_length=64,
        default="0.8,1.0",
        blank=True,
        validators=[alert_fractions_validate],
        help_text="Alert once per period when spend crosses these fractions of a budget, "
        "comma-separated, each in (0, 1.5]; empty = no alerts.",
    )
    alert_webhook_url = models.URLField(
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Budget alerts are POSTed here (http or https); empty = log line and metric only.",
    )

    class Meta:
        abstract = True


class Team(LimitFields):
    """Client keys may belong to a team; a team's limits cap all its keys together."""

    name = models.SlugField(max_length=100, unique=True, help_text="Letters, digits, - and _.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ClientKey(LimitFields):
    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False, help_text="The visible start of the key.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    # After a rotation the previous key keeps working until previous_key_expires_at (the overlap window).
    previous_key_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    previous_key_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    allowed_models = models.ManyToManyField("providers_app.Model", blank=True, help_text="Empty = every enabled model.")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="keys")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class CompletionRecord(models.Model):
    """One row per request, whatever its outcome. Never edited after it is written."""

    class Status(models.TextChoices):
        OK = "ok", "ok"
        ERROR = "error", "error"
        CACHE_HIT = "cache_hit", "cache hit"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(db_index=True)
    request_id = models.CharField(max_length=128, db_index=True)
    client = models.ForeignKey(ClientKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="records")
    client_name = models.CharField(max_length=100, blank=True)
    interface = models.CharField(max_length=16, blank=True, help_text="rest, openai, grpc")
    model = models.CharField(max_length=200, help_text="As requested.")
    served_model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    provider_key = models.CharField(max_length=100, blank=True, help_text="The key's label, never the key.")
    status = models.CharField(max_length=16, choices=Status.choices)
    error_type = models.CharField(max_length=64, blank=True)
    http_status = models.PositiveSmallIntegerField(default=200)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(
        default=0, help_text="Of output_tokens, those spent reasoning (priced as output)."
    )
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    input_price_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)
    output_price_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)
    cache_read_price_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)
    cache_write_price_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)
    cost_usd = models.DecimalField(**COST, default=0)
    cost_saved_usd = models.DecimalField(**COST, default=0, help_text="On cache hits: what the upstream call cost.")
    usage_estimated = models.BooleanField(default=False, help_text="No usage from the provider; tokens estimated.")
    latency_ms = models.FloatField(default=0)
    ttft_ms = models.FloatField(null=True, blank=True, help_text="Time to first token (streams).")
    cached = models.BooleanField(default=False)
    stream = models.BooleanField(default=False)
    finish_reason = models.CharField(max_length=32, blank=True)
    attempts = models.JSONField(default=list, blank=True, help_text="The fallback chain as tried.")
    limit_hit = models.CharField(
        max_length=64, blank=True, help_text="Which limit refused the request, e.g. key:ci-bot:rpm"
    )
    end_user = models.CharField(
        max_length=256, blank=True, help_text="The request's `user`: the client's own end user, as it sent it."
    )
    cache_write_1h_tokens = models.PositiveIntegerField(
        default=0, help_text="Of the cache writes, those cached for 1 hour (priced apart)."
    )
    cache_write_1h_price_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["model", "created_at"], name="rec_model_time"),
            models.Index(fields=["provider", "created_at"], name="rec_provider_time"),
            models.Index(fields=["client", "created_at"], name="rec_client_time"),
            models.Index(fields=["status", "created_at"], name="rec_status_time"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model} {self.status}"


class CostRollup(models.Model):
    """Aggregates of records per period × model × provider × client (rollup_costs task)."""

    class Period(models.TextChoices):
        HOUR = "hour", "hour"
        DAY = "day", "day"

    period = models.CharField(max_length=8, choices=Period.choices)
    bucket_start = models.DateTimeField()
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=100)
    client_name = models.CharField(max_length=100)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    cache_hits = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cache_read_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(**COST, default=0)
    cost_saved_usd = models.DecimalField(**COST, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-bucket_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "bucket_start", "model", "provider", "client_name"], name="uniq_rollup_bucket"
            )
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.bucket_start:%Y-%m-%d %H:%M} {self.model}"


class ManagementToken(models.Model):
    """A bearer token for the management API (/api/v1/). Only its SHA-256 is stored.

    Each token acts as its own Django user (`token:<name>`, no password, never staff), in the
    group of its role: permissions and the admin's history then work the same for tokens
    and for staff sessions.
    """

    class Role(models.TextChoices):
        ADMIN = "admin", "admin (reads and writes)"
        FINANCE = "finance", "finance (reads records and summaries)"

    name = models.SlugField(max_length=100, unique=True, help_text="Letters, digits, - and _.")
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False, help_text="The visible start of the token.")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, editable=False, related_name="management_token"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
