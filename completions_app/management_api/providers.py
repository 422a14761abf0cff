"""/api/v1/providers and /api/v1/provider-keys. A provider key's secret is write-only: it is
stored encrypted and never read back; reads show its label, last characters, health and
whether it is cooling down after a 429."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.utils import timezone
from rest_framework import serializers

from completions_app.services.gateway_state import gateway_state
from providers_app.models import Provider, ProviderKey

from .base import ManagedViewSet
from .strict import StrictFieldsMixin

PROBE_FIELDS = ("healthy", "last_probe_at", "last_probe_latency_ms")
log = logging.getLogger(__name__)


class ProviderSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Provider
        fields = ["id", "name", "kind", "base_url", "timeout_s", "enabled", "created_at", "updated_at", *PROBE_FIELDS]
        read_only_fields = ["created_at", "updated_at", *PROBE_FIELDS]


class ProviderViewSet(ManagedViewSet):
    """Upstream providers (Anthropic, OpenAI-compatible, Ollama). A provider still serving
    models cannot be deleted (409)."""

    queryset = Provider.objects.all()
    serializer_class = ProviderSerializer


UNKNOWN_END = object()  # not cooling


def key_cooldowns(key_ids: list[int]) -> dict[int, float | None]:
    """The cooling keys among these (epoch end, None when unknown), from the gateway's shared
    state; {} when the state cannot be read (the read is informative, never an error)."""
    try:
        return async_to_sync(gateway_state().keyring.cooling_ends)(key_ids)
    except Exception:  # noqa: BLE001 - e.g. Redis down with no in-process fallback entry
        log.warning("provider key cooldowns could not be read", exc_info=True)
        return {}


class ProviderKeySerializer(StrictFieldsMixin, serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="name", queryset=Provider.objects.all())
    secret = serializers.CharField(
        write_only=True,
        required=True,
        trim_whitespace=True,
        min_length=1,
        max_length=4096,
        style={"input_type": "password"},
        help_text="The provider's API key. Stored encrypted; never returned.",
    )

    class Meta:
        model = ProviderKey
        fields = [
            "id",
            "provider",
            "label",
            "secret",
            "secret_tail",
            "weight",
            "enabled",
            "created_at",
            "last_used_at",
            *PROBE_FIELDS,
            "last_probe_error",
            "consecutive_probe_failures",
            "cooling_until",
        ]
        read_only_fields = [
            "secret_tail",
            "created_at",
            "last_used_at",
            *PROBE_FIELDS,
            "last_probe_error",
            "consecutive_probe_failures",
        ]

    cooling_until = serializers.SerializerMethodField(
        help_text="While the key cools down after a 429 (round-robin skips it): when that ends (UTC); else null. "
        "Read from the gateway's shared state (Redis: every replica's cooldowns)."
    )

    def get_cooling_until(self, key: ProviderKey) -> datetime | None:
        ends = key_cooldowns([key.pk]).get(key.pk, UNKNOWN_END)
        if ends is UNKNOWN_END:
            return None
        return datetime.fromtimestamp(ends, UTC) if ends is not None else timezone.now()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None:  # an update may keep the secret
            self.fields["secret"].required = False

    def create(self, validated_data: dict[str, Any]) -> ProviderKey:
        secret = validated_data.pop("secret")
        key = ProviderKey(**validated_data)
        key.set_secret(secret)
        key.save()
        return key

    def update(self, instance: ProviderKey, validated_data: dict[str, Any]) -> ProviderKey:
        secret = validated_data.pop("secret", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        if secret is not None:
            instance.set_secret(secret)
        instance.save()
        return instance


class ProviderKeyViewSet(ManagedViewSet):
    """Provider API keys, used round-robin by weight. `secret` is accepted on create and
    update and never returned; reads show `secret_tail` (its last characters)."""

    queryset = ProviderKey.objects.select_related("provider")
    serializer_class = ProviderKeySerializer
    always_changed = ("secret",)
