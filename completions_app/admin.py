from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from . import admin_tokens  # noqa: F401 - management tokens and the history list, in their own module
from .csv_download import csv_streaming_response
from .models import ClientKey, CompletionRecord, CostRollup, LimitFields, Team
from .services.client_keys import client_key_generate, client_key_hash

LIMIT_FIELDSET = (
    "Budgets and rate limits",
    {
        "fields": [
            ("rpm", "tpm", "concurrency"),
            ("budget_usd_day", "budget_usd_month"),
            "alert_fractions",
            "alert_webhook_url",
        ],
        "description": "Each optional (empty = no limit). A request must fit every limit of its key and of "
        "its key's team. Edits reach requests within a few seconds (the client key cache, 5 s).",
    },
)


def limits_summary(row: LimitFields) -> str:
    """The limits set, compactly: "60 rpm · $10.00/month"; "—" when none."""
    parts = [f"{value} {name}" for name in ("rpm", "tpm", "concurrency") if (value := getattr(row, name)) is not None]
    parts += [
        f"${value.normalize():f}/{period}"
        for period in ("day", "month")
        if (value := getattr(row, f"budget_usd_{period}")) is not None
    ]
    return " · ".join(parts) or "—"


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "rpm", "tpm", "concurrency", "budget_usd_day", "budget_usd_month", "key_count"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]
    fieldsets = [(None, {"fields": ["name", "created_at"]}), LIMIT_FIELDSET]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(key_count=Count("keys"))

    @admin.display(description="client keys", ordering="key_count")
    def key_count(self, obj: Team) -> int:
        return obj.key_count  # type: ignore[attr-defined]


@admin.register(ClientKey)
class ClientKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "active", "team", "limits", "expires_at", "created_at", "last_used_at"]
    list_filter = ["active", "team"]
    list_select_related = ["team"]
    search_fields = ["name", "prefix", "team__name"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    filter_horizontal = ["allowed_models"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "prefix",
                    "active",
                    "expires_at",
                    "team",
                    "allowed_models",
                    "created_at",
                    "last_used_at",
                ]
            },
        ),
        LIMIT_FIELDSET,
    ]

    @admin.display(description="limits")
    def limits(self, obj: ClientKey) -> str:
        return limits_summary(obj)

    def save_model(self, request: HttpRequest, obj: ClientKey, form: object, change: bool) -> None:
        if not change:
            plaintext = client_key_generate()
            obj.key_hash = client_key_hash(plaintext)
            obj.prefix = plaintext[:8]
            # Shown once, here; only the hash is stored.
            messages.warning(
                request, f"New client key for {obj.name} (copy it now, it is not shown again): {plaintext}"
            )
        super().save_model(request, obj, form, change)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CompletionRecord)
class CompletionRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "request_id",
        "client_name",
        "model",
        "served_model",
        "provider",
        "status",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "latency_ms",
        "cached",
        "stream",
    ]
    list_filter = [
        "status",
        ("created_at", admin.DateFieldListFilter),
        "model",
        "provider",
        "client_name",
        "stream",
        "cached",
    ]
    search_fields = ["request_id", "model", "served_model", "client_name", "error_type"]
    date_hierarchy = "created_at"
    list_select_related = False
    show_full_result_count = False
    actions = ["export_csv"]
    change_list_template = "admin/completions_app/completionrecord/change_list.html"

    @admin.action(description="Export selected records as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[CompletionRecord]) -> StreamingHttpResponse:
        # "Select all" exports the whole filtered list, streamed; the exportcosts format.
        return csv_streaming_response(request, queryset.order_by("created_at", "id"), filename="completion-records.csv")


@admin.register(CostRollup)
class CostRollupAdmin(ReadOnlyAdmin):
    list_display = [
        "period",
        "bucket_start",
        "model",
        "provider",
        "client_name",
        "requests",
        "errors",
        "cache_hits",
        "cost_usd",
    ]
    list_filter = ["period", "model", "provider", "client_name"]
    date_hierarchy = "bucket_start"
