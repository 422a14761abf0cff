"""Client keys and the per-request audit record."""

from __future__ import annotations

import uuid

from django.db import models

COST = {"max_digits": 24, "decimal_places": 12}
PRICE = {"max_digits": 14, "decimal_places": 6}


class ClientKey(models.Model):
    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False, help_text="The visible start of the key.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    allowed_models = models.ManyToManyField("providers_app.Model", blank=True, help_text="Empty = every enabled model.")

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
