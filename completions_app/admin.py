from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from .csv_download import csv_streaming_response
from .models import ClientKey, CompletionRecord, CostRollup
from .services.client_keys import client_key_generate, client_key_hash


@admin.register(ClientKey)
class ClientKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "active", "expires_at", "created_at", "last_used_at"]
    list_filter = ["active"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    filter_horizontal = ["allowed_models"]
    fields = ["name", "prefix", "active", "expires_at", "allowed_models", "created_at", "last_used_at"]

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
