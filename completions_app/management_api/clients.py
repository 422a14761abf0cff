"""/api/v1/teams and /api/v1/client-keys.

A client key is shown once: in the answer to the POST that creates it, and in the answer to
`POST /api/v1/client-keys/{id}/rotate` (a new secret on the same row; the old one keeps working
for `overlap_seconds`). DELETE revokes (active = false): the row stays, so its records keep
their client.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from completions_app.models import ClientKey, Team
from completions_app.services.auth import auth_cache_clear
from completions_app.services.client_keys import client_key_create, client_key_rotate
from providers_app.models import Model

from .audit import audit_changed, audit_created
from .base import ManagedViewSet
from .strict import StrictFieldsMixin

LIMIT_FIELDS = [
    "rpm",
    "tpm",
    "concurrency",
    "budget_usd_day",
    "budget_usd_month",
    "alert_fractions",
    "alert_webhook_url",
]
MAX_OVERLAP_S = 30 * 24 * 3600  # a rotation window longer than a month is a forgotten old key


class TeamSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", *LIMIT_FIELDS, "created_at"]
        read_only_fields = ["created_at"]


class TeamViewSet(ManagedViewSet):
    """Teams and their limits (each optional; a team's limits cap all its keys together)."""

    queryset = Team.objects.all()
    serializer_class = TeamSerializer


class ClientKeySerializer(StrictFieldsMixin, serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="name", queryset=Team.objects.all(), required=False, allow_null=True)
    allowed_models = serializers.SlugRelatedField(
        slug_field="name",
        queryset=Model.objects.all(),
        many=True,
        required=False,
        help_text="Model names this key may use; empty = every enabled model.",
    )

    class Meta:
        model = ClientKey
        fields = [
            "id",
            "name",
            "prefix",
            "active",
            "team",
            "allowed_models",
            "expires_at",
            *LIMIT_FIELDS,
            "created_at",
            "last_used_at",
            "previous_key_expires_at",
        ]
        read_only_fields = ["prefix", "active", "created_at", "last_used_at", "previous_key_expires_at"]


class ClientKeyCreatedSerializer(ClientKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The client key. Shown only in this answer.")

    class Meta(ClientKeySerializer.Meta):
        fields = [*ClientKeySerializer.Meta.fields, "key"]


class RotateSerializer(StrictFieldsMixin, serializers.Serializer):
    overlap_seconds = serializers.IntegerField(
        min_value=0,
        max_value=MAX_OVERLAP_S,
        default=0,
        help_text="How long the old key keeps working (0 = it stops at once).",
    )


class ClientKeyViewSet(ManagedViewSet):
    """Client keys (the `/v1` kind). Create and rotate answer the key once; DELETE revokes it."""

    queryset = ClientKey.objects.select_related("team").prefetch_related("allowed_models")
    serializer_class = ClientKeySerializer

    @extend_schema(request=ClientKeySerializer, responses={201: ClientKeyCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        models = data.pop("allowed_models", [])
        with transaction.atomic():
            row, plaintext = client_key_create(
                name=data.pop("name"), model_names=[m.name for m in models], expires_at=data.pop("expires_at", None)
            )
            for name, value in data.items():
                setattr(row, name, value)
            row.save()
            audit_created(request.user, row)
        body = ClientKeyCreatedSerializer(row, context=self.get_serializer_context()).data
        body["key"] = plaintext
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(request=RotateSerializer, responses={200: ClientKeyCreatedSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, pk: str | None = None) -> Response:
        """A new secret for the same key (name, team, limits and records unchanged). The old secret
        keeps working for `overlap_seconds`; the new one is answered once."""
        row = self.get_object()
        params = RotateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        overlap = params.validated_data["overlap_seconds"]
        if not row.active:
            raise serializers.ValidationError({"id": "This client key is revoked; create a new one."})
        with transaction.atomic():
            row, plaintext = client_key_rotate(row, overlap=timedelta(seconds=overlap))
            audit_changed(request.user, row, [f"key (rotated, previous key valid {overlap} s)"])
        auth_cache_clear()  # this process forgets the old secret's identity now (others within AUTH_CACHE_S)
        body = ClientKeyCreatedSerializer(row, context=self.get_serializer_context()).data
        body["key"] = plaintext
        return Response(body, headers={"Cache-Control": "no-store"})

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Revokes the key (active = false); the row stays, so its records keep their client."""
        row = self.get_object()
        with transaction.atomic():
            if row.active:
                ClientKey.objects.filter(pk=row.pk).update(active=False)
                audit_changed(request.user, row, ["active (revoked)"])
        auth_cache_clear()
        return Response(status=status.HTTP_204_NO_CONTENT)
