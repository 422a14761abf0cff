"""/api/v1/models: the models clients ask for, with prices, ordered fallbacks and mode.

Every write that changes a price records it as a new effective-dated price (price history);
GET /api/v1/models/{id}/prices answers that history, or with `?at=` the price in force then.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from providers_app.models import Model, ModelFallback, ModelPrice, Provider
from providers_app.prices import PRICE_FIELDS, price_at, price_history_record

from .base import ManagedViewSet
from .strict import StrictFieldsMixin

MAX_FALLBACKS = 20


class ModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="name", queryset=Provider.objects.all())
    fallbacks = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=MAX_FALLBACKS,
        help_text="Model names tried in this order when this model's provider fails.",
    )

    class Meta:
        model = Model
        fields = [
            "id",
            "name",
            "mode",
            "provider",
            "upstream_model",
            *PRICE_FIELDS,
            "free",
            "fallbacks",
            "context_window",
            "max_output_tokens",
            "cache_shared",
            "json_schema_via_tool",
            "enabled",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def to_representation(self, instance: Model) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["fallbacks"] = [link.fallback.name for link in instance.fallback_links.all()]
        return data

    def validate_fallbacks(self, names: list[str]) -> list[Model]:
        if len(set(names)) != len(names):
            raise serializers.ValidationError("A model is named twice.")
        found = {m.name: m for m in Model.objects.filter(name__in=names)}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise serializers.ValidationError(f"Unknown model(s): {', '.join(unknown)}.")
        if self.instance is not None and self.instance.name in found:
            raise serializers.ValidationError("A model cannot fall back to itself.")
        return [found[n] for n in names]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        name = attrs.get("name", getattr(self.instance, "name", None))
        if any(m.name == name for m in attrs.get("fallbacks", ())):
            raise serializers.ValidationError({"fallbacks": "A model cannot fall back to itself."})

        def value(field: str) -> Any:
            return attrs[field] if field in attrs else getattr(self.instance, field, None)

        # Model.clean()'s rule (DRF does not call it): a model serves only with a price, or free.
        if not value("free"):
            missing = {
                f: "Required unless the model is free (it cannot serve without a price)."
                for f in ("input_per_mtok", "output_per_mtok")
                if value(f) is None
            }
            if missing:
                raise serializers.ValidationError(missing)
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Model:
        fallbacks = validated_data.pop("fallbacks", [])
        model = Model.objects.create(**validated_data)
        self._fallbacks_set(model, fallbacks)
        self._price_recorded(model)
        return model

    def update(self, instance: Model, validated_data: dict[str, Any]) -> Model:
        fallbacks = validated_data.pop("fallbacks", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save()
        if fallbacks is not None:
            self._fallbacks_set(instance, fallbacks)
        self._price_recorded(instance)
        return instance

    @staticmethod
    def _fallbacks_set(model: Model, fallbacks: list[Model]) -> None:
        model.fallback_links.all().delete()
        ModelFallback.objects.bulk_create(
            ModelFallback(model=model, fallback=fb, position=pos) for pos, fb in enumerate(fallbacks)
        )

    def _price_recorded(self, model: Model) -> None:
        request = self.context.get("request")
        who = request.user.get_username() if request is not None else ""
        price_history_record(model, source=ModelPrice.Source.API, changed_by=who)


class ModelPriceSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelPrice
        fields = ["valid_from", *PRICE_FIELDS, "free", "source", "changed_by", "created_at"]
        read_only_fields = fields


class PriceQuerySerializer(serializers.Serializer):
    at = serializers.CharField(
        required=False, help_text="An ISO date (its start, UTC) or date-time: the price in force then."
    )

    def validate_at(self, value: str) -> datetime:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise serializers.ValidationError(
                "Use an ISO date or date-time, e.g. 2026-11-30 or 2026-11-30T12:00Z."
            ) from None
        if len(value) == 10:  # a date: its start
            when = datetime.combine(when.date(), time.min)
        return when.replace(tzinfo=UTC) if timezone.is_naive(when) else when


class ModelViewSet(ManagedViewSet):
    """Models with their prices (USD per million tokens, decimal strings), ordered fallbacks and mode."""

    queryset = Model.objects.select_related("provider").prefetch_related("fallback_links__fallback")
    serializer_class = ModelSerializer
    action_models = {"prices": ModelPrice}

    @extend_schema(
        parameters=[PriceQuerySerializer],
        responses=ModelPriceSerializer(many=True),
        description="The model's price history, newest first; with `at`, a list of the one price in force "
        "then (empty before the first recorded price).",
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def prices(self, request: Request, pk: str | None = None) -> Response:
        model = self.get_object()
        query = PriceQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        if (when := query.validated_data.get("at")) is not None:
            found = price_at(model, when)
            rows = [found] if found is not None else []
        else:
            rows = list(model.price_history.order_by("-valid_from", "-id"))
        return Response(ModelPriceSerializer(rows, many=True).data)
