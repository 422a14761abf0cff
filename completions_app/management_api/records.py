"""/api/v1/records (read-only, filtered, cursor-paginated; `?format=csv` streams the
exportcosts CSV) and /api/v1/costs/summary (the same filters, grouped sums)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from completions_app.csv_download import csv_streaming_response
from completions_app.models import CompletionRecord
from completions_app.services.cost import cost_format
from completions_app.services.records_query import GROUPS, cost_summary, records_filtered

from .base import ManagementView


def _when(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise serializers.ValidationError(
            "Use an ISO date or date-time, e.g. 2026-11-01 or 2026-11-01T12:00Z."
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class RecordFilterSerializer(serializers.Serializer):
    """The query parameters of /api/v1/records and /api/v1/costs/summary."""

    since = serializers.CharField(required=False, help_text="ISO date or date-time (UTC if no offset); inclusive.")
    until = serializers.CharField(required=False, help_text="ISO date or date-time (UTC if no offset); exclusive.")
    client = serializers.CharField(required=False, max_length=100, help_text="The client key's name.")
    team = serializers.CharField(required=False, max_length=100, help_text="The client key's team.")
    model = serializers.CharField(required=False, max_length=200, help_text="The model as requested.")
    provider = serializers.CharField(required=False, max_length=100)
    status = serializers.ChoiceField(required=False, choices=CompletionRecord.Status.choices)
    cached = serializers.BooleanField(required=False, allow_null=True, default=None)

    def validate_since(self, value: str) -> datetime:
        return _when(value)

    def validate_until(self, value: str) -> datetime:
        return _when(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "Must be after since."})
        return attrs


def records_for(request: Request) -> QuerySet[CompletionRecord]:
    query = RecordFilterSerializer(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    return records_filtered(**query.validated_data)


class RecordSerializer(serializers.ModelSerializer):
    client = serializers.CharField(source="client_name", read_only=True)
    team = serializers.SerializerMethodField()

    class Meta:
        model = CompletionRecord
        fields = [
            "id", "created_at", "request_id", "client", "team", "interface", "model", "served_model", "provider",
            "provider_key", "status", "error_type", "http_status", "input_tokens", "output_tokens",
            "reasoning_tokens", "cache_read_tokens", "cache_write_tokens", "input_price_per_mtok",
            "output_price_per_mtok", "cache_read_price_per_mtok", "cache_write_price_per_mtok", "cost_usd",
            "cost_saved_usd", "usage_estimated", "latency_ms", "ttft_ms", "cached", "stream", "finish_reason",
            "attempts", "limit_hit", "end_user",
        ]  # fmt: skip
        read_only_fields = fields

    def get_team(self, record: CompletionRecord) -> str | None:
        return record.client.team.name if record.client and record.client.team else None


class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` pass content negotiation; the rows are streamed by the view itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return b""  # only an error body would reach here; the view answers CSV itself


class RecordPagination(CursorPagination):
    ordering = "-created_at"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class RecordViewSet(ManagementView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Per-request cost records, newest first. `?format=csv` answers every matching record as
    CSV (the exportcosts columns), streamed."""

    queryset = CompletionRecord.objects.select_related("client__team")
    serializer_class = RecordSerializer
    pagination_class = RecordPagination
    renderer_classes = [JSONRenderer, CSVRenderer]

    def get_renderers(self) -> list[BaseRenderer]:
        if self.action == "retrieve":
            return [JSONRenderer()]  # one record is JSON only
        return super().get_renderers()

    def get_queryset(self) -> QuerySet[CompletionRecord]:
        if self.action == "list":
            return records_for(self.request).select_related("client__team")
        return super().get_queryset()

    @extend_schema(
        parameters=[RecordFilterSerializer],
        responses={
            (200, "application/json"): RecordSerializer(many=True),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The exportcosts CSV."),
        },
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.accepted_renderer.format == "csv":
            qs = records_for(request).order_by("created_at", "id")  # exportcosts' order
            return csv_streaming_response(request._request, qs, filename="cost-records.csv")
        return super().list(request, *args, **kwargs)


class SummaryQuerySerializer(RecordFilterSerializer):
    group_by = serializers.CharField(
        required=False,
        default="",
        help_text=f"Comma-separated, any of {', '.join(GROUPS)}; empty = one total.",
    )

    def validate_group_by(self, value: str) -> list[str]:
        words = [w.strip() for w in value.split(",") if w.strip()]
        bad = [w for w in words if w not in GROUPS]
        if bad:
            raise serializers.ValidationError(f"Unknown: {', '.join(bad)}. Use any of {', '.join(GROUPS)}.")
        if len(set(words)) != len(words):
            raise serializers.ValidationError("A word is repeated.")
        return words


class SummaryRowSerializer(serializers.Serializer):
    hour = serializers.DateTimeField(required=False)
    day = serializers.DateTimeField(required=False)
    model = serializers.CharField(required=False)
    provider = serializers.CharField(required=False)
    client = serializers.CharField(required=False)
    team = serializers.CharField(required=False, allow_null=True)
    requests = serializers.IntegerField()
    errors = serializers.IntegerField()
    cache_hits = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    cost_usd = serializers.CharField(help_text="USD, exact decimal.")
    cost_saved_usd = serializers.CharField(help_text="USD, exact decimal.")


class SummaryView(ManagementView):
    """Cost records summed per group (UTC hours/days and/or model, provider, client, team),
    with the same filters as /api/v1/records. Sums are exact: equal to the records' own."""

    permission_model = CompletionRecord

    @extend_schema(parameters=[SummaryQuerySerializer], responses=SummaryRowSerializer(many=True))
    def get(self, request: Request) -> Response:
        query = SummaryQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        group_by = params.pop("group_by")
        rows = cost_summary(records_filtered(**params), group_by)
        return Response([_row(r) for r in rows])


def _row(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        elif key in ("cost_usd", "cost_saved_usd"):
            value = cost_format(value)
        out[key] = value
    return out
