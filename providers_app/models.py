"""Providers, their keys, and the models clients ask for (with prices)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from .crypto import EncryptedTextField, secret_mask

PRICE = {"max_digits": 14, "decimal_places": 6, "validators": [MinValueValidator(Decimal(0))]}
BASE_URL_SCHEMES = ("http", "https")


def base_url_validate(value: str) -> None:
    """An http(s) URL without credentials: a `user:pass@` part would be sent to
    (and logged by) whatever answers, and a secret belongs in a provider key."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in BASE_URL_SCHEMES:
        raise ValidationError("Must be an http:// or https:// URL.", code="scheme")
    if "@" in parts.netloc:
        raise ValidationError(
            "Must not contain credentials (user:password@); put the secret in a provider key.", code="credentials"
        )
    if not parts.hostname:
        raise ValidationError("Must name a host.", code="host")


class Provider(models.Model):
    class Kind(models.TextChoices):
        ANTHROPIC = "anthropic", "Anthropic"
        OPENAI = "openai", "OpenAI (or compatible)"
        OLLAMA = "ollama", "Ollama"

    name = models.SlugField(max_length=100, unique=True, help_text="Used in metrics labels and logs.")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    base_url = models.URLField(
        blank=True,
        validators=[base_url_validate],
        help_text="Empty = the SDK's default. http(s) only, no user:password@. Set by admins only.",
    )
    timeout_s = models.FloatField(default=60, validators=[MinValueValidator(0.1)])
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Written by the probe task.
    healthy = models.BooleanField(null=True, blank=True, editable=False)
    last_probe_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_probe_latency_ms = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProviderKey(models.Model):
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="keys")
    label = models.CharField(max_length=100)
    secret = EncryptedTextField(help_text="Stored encrypted; never shown again.")
    secret_tail = models.CharField(max_length=8, editable=False, blank=True)
    weight = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Written by the probe task.
    healthy = models.BooleanField(null=True, blank=True, editable=False)
    last_probe_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_probe_latency_ms = models.FloatField(null=True, blank=True, editable=False)
    last_probe_error = models.CharField(max_length=300, blank=True, editable=False)
    consecutive_probe_failures = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["provider__name", "label"]
        constraints = [models.UniqueConstraint(fields=["provider", "label"], name="uniq_provider_key_label")]

    def __str__(self) -> str:
        return f"{self.provider.name}/{self.label} ({self.secret_tail})"

    def set_secret(self, plaintext: str) -> None:
        self.secret = plaintext
        self.secret_tail = secret_mask(plaintext)


def mode_named(mode: str) -> str:
    """A model's mode with its article, for messages: "a chat", "an embedding"."""
    return f"an {mode}" if mode[:1] in "aeiou" else f"a {mode}"


class Model(models.Model):
    class Mode(models.TextChoices):
        CHAT = "chat", "Chat"
        EMBEDDING = "embedding", "Embedding"

    name = models.CharField(max_length=200, unique=True, help_text="The name clients ask for.")
    mode = models.CharField(
        max_length=16,
        choices=Mode.choices,
        default=Mode.CHAT,
        help_text=(
            "What the model does: chat (the chat routes) or embedding (/v1/embeddings, priced per input token). "
            "A route asked for a model of the other mode answers 400."
        ),
    )
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    upstream_model = models.CharField(max_length=200)
    # Empty input/output prices: the model does not serve (left out of the catalog) unless `free`.
    input_per_mtok = models.DecimalField(
        **PRICE, null=True, blank=True, help_text="USD per 1M input tokens. Required unless the model is free."
    )
    output_per_mtok = models.DecimalField(
        **PRICE, null=True, blank=True, help_text="USD per 1M output tokens. Required unless the model is free."
    )
    cache_read_per_mtok = models.DecimalField(**PRICE, null=True, blank=True, help_text="Empty = input price.")
    cache_write_per_mtok = models.DecimalField(
        **PRICE, null=True, blank=True, help_text="5-minute cache writes (Anthropic's default). Empty = input price."
    )
    cache_write_1h_per_mtok = models.DecimalField(
        **PRICE, null=True, blank=True, help_text="1-hour cache writes (Anthropic ttl 1h). Empty = the 5-minute price."
    )
    free = models.BooleanField(
        default=False,
        help_text=(
            "Serves at no cost: no price needed (a local Ollama model). Its requests cost 0 and any price "
            "set here is ignored. Off: the model serves only once its input and output prices are set."
        ),
    )
    context_window = models.PositiveIntegerField(null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cache_shared = models.BooleanField(
        "response cache shared across clients",
        default=False,
        help_text=(
            "Off (the default): each client key has its own response cache, so no client is served, or learns of, "
            "another's prompt. On: identical temperature-0 requests from any client key share one cached answer "
            "(more hits; only for models whose prompts are not private to a client)."
        ),
    )
    json_schema_via_tool = models.BooleanField(
        "JSON schema via a forced tool",
        default=False,
        help_text=(
            "Anthropic models only. Off (the default): a json_schema response_format is sent as Anthropic's "
            "structured output (output_config.format). On, for Claude models without structured outputs: it is "
            "sent as one forced tool whose input schema is the JSON schema, and the tool's input becomes the "
            "answer's text."
        ),
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.free:
            return
        missing = {
            f: "Required unless the model is marked free (it cannot serve without a price)."
            for f in ("input_per_mtok", "output_per_mtok")
            if getattr(self, f) is None
        }
        if missing:
            raise ValidationError(missing)

    @property
    def priced(self) -> bool:
        """Whether the model can serve: free, or both its input and output prices set."""
        return self.free or (self.input_per_mtok is not None and self.output_per_mtok is not None)


class ModelFallback(models.Model):
    """One step of a model's ordered fallback chain."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="fallback_links")
    fallback = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["model", "position"]
        constraints = [models.UniqueConstraint(fields=["model", "fallback"], name="uniq_model_fallback")]

    def __str__(self) -> str:
        return f"{self.model.name} → {self.fallback.name} (#{self.position})"


class ModelPrice(models.Model):
    """One effective-dated price of a model: a row per change, never edited.

    The Model's own price fields are the price in force (the hot path reads them);
    this is their history, for "what did model X cost per token on date D".
    """

    class Source(models.TextChoices):
        INITIAL = "initial", "Initial"
        ADMIN = "admin", "Admin"
        API = "api", "Management API"
        LOADCONFIG = "loadconfig", "loadconfig"
        SYNCPRICES = "syncprices", "syncprices"

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="price_history")
    valid_from = models.DateTimeField(db_index=True)
    input_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)
    output_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)
    cache_read_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)
    cache_write_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)
    cache_write_1h_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)
    free = models.BooleanField(default=False, help_text="The model served at no cost: every price counted as 0.")
    source = models.CharField(max_length=16, choices=Source.choices)
    changed_by = models.CharField(max_length=150, blank=True, help_text="The user or token that made the change.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-valid_from", "-id"]
        indexes = [models.Index(fields=["model", "valid_from"])]

    def __str__(self) -> str:
        return f"{self.model.name} from {self.valid_from:%Y-%m-%d %H:%M}"
