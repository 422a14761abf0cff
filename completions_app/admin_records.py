"""The audit records in the admin: a list that fits a laptop screen with a totals line, a grouped detail page.

Money is shown in dollars at one precision (admin_format.USD_PLACES) with the exact value on
hover; the detail page, the CSV export and the API keep the exact value.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .admin_filters import DayRangeFilter
from .admin_format import admin_change_url, may_open, ms_text, usd_html, usd_text
from .csv_download import csv_streaming_response
from .models import ClientKey, CompletionRecord
from .services.cost import cost_format
from .services.rollup import aggregate_row, record_aggregates

# Read-only fields take their label from the form's Meta.labels (django.contrib.admin.helpers),
# so the words change without touching the model (and without a migration).
RECORD_LABELS = {
    "request_id": "Request ID",
    "client": "Client key",
    "client_name": "Client",
    "interface": "Interface",
    "served_model": "Served by model",
    "provider_key": "Provider key (label)",
    "error_type": "Error type",
    "http_status": "HTTP status",
    "input_price_per_mtok": "Input price (USD per 1M tokens)",
    "output_price_per_mtok": "Output price (USD per 1M tokens)",
    "cache_read_price_per_mtok": "Cache read price (USD per 1M tokens)",
    "cache_write_price_per_mtok": "Cache write price (USD per 1M tokens)",
    "cache_write_1h_price_per_mtok": "Cache write price, 1-hour TTL (USD per 1M tokens)",
    "cache_write_1h_tokens": "Cache write tokens, 1-hour TTL",
    "cost_usd": "Cost (USD, exact)",
    "cost_saved_usd": "Saved by cache (USD, exact)",
    "latency_ms": "Latency (ms)",
    "ttft_ms": "Time to first token (ms)",
    "finish_reason": "Finish reason",
    "limit_hit": "Limit hit",
    "end_user": "End user",
    "usage_estimated": "Usage estimated",
}


class RecordForm(forms.ModelForm):
    class Meta:
        model = CompletionRecord
        fields = "__all__"  # noqa: DJ007 - a read-only page: every field is shown, none is editable
        labels = RECORD_LABELS


def attempts_html(attempts: Any) -> SafeString:
    """The fallback chain as tried, one row per attempt; anything unexpected shown as text, never lost."""
    if not attempts:
        return format_html("{}", "— (no upstream call)")
    if not isinstance(attempts, list) or not all(isinstance(a, dict) for a in attempts):
        return format_html("<code>{}</code>", str(attempts))
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                i,
                a.get("model", ""),
                a.get("provider", ""),
                a.get("key", ""),
                format_html(
                    '<span class="attempt-{}">{}</span>',
                    "ok" if a.get("outcome") == "ok" else "failed",
                    a.get("outcome", ""),
                ),
            )
            for i, a in enumerate(attempts, 1)
        ),
    )
    return format_html(
        '<table class="attempts"><thead><tr><th>#</th><th>Model</th><th>Provider</th><th>Key (label)</th>'
        "<th>Outcome</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


def _client_key_text(obj: CompletionRecord) -> str:
    return str(obj.client) if obj.client else "— (none, or deleted)"


def client_link_html(obj: CompletionRecord, text: str) -> SafeString:
    if obj.client_id is None:
        return format_html("{}", text)
    return format_html('<a href="{}">{}</a>', admin_change_url(ClientKey, obj.client_id), text)


def fieldsets_with(fieldsets: list, name: str, replacement: str) -> list:
    """The fieldsets with one field name replaced (in a row tuple or alone)."""

    def swap(entry: Any) -> Any:
        if isinstance(entry, tuple | list):
            return tuple(replacement if f == name else f for f in entry)
        return replacement if entry == name else entry

    return [(title, {**opts, "fields": [swap(e) for e in opts["fields"]]}) for title, opts in fieldsets]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class CompletionRecordAdmin(ReadOnlyAdmin):
    form = RecordForm
    # Chosen to fit 1366 px with the sidebar and filters open (tests/browser/test_admin_records.py).
    list_display = ["created", "client", "model", "status", "tokens", "cost", "latency"]
    list_display_links = ["created"]
    list_filter = [
        ("created_at", DayRangeFilter),
        "status",
        "model",
        "provider",
        "client_name",
        "client__team",  # the report's team rows link here (client__team__id__exact, __isnull)
        "stream",
        "cached",
    ]
    search_fields = ["request_id", "model", "served_model", "client_name", "error_type"]
    date_hierarchy = "created_at"
    list_select_related = False  # the list needs client_id and client_name only: no join
    show_full_result_count = False
    actions = ["export_csv"]
    change_list_template = "admin/completions_app/completionrecord/change_list.html"
    readonly_fields = ["attempts_table", "cost_display", "saved_display"]
    fieldsets = [
        (
            "Request",
            {
                "fields": [
                    ("created_at", "request_id"),
                    ("client_key", "client_name", "interface"),
                    ("model", "stream", "end_user"),
                    ("status", "http_status", "error_type"),
                    ("finish_reason", "limit_hit"),
                ]
            },
        ),
        (
            "Routing and attempts",
            {"fields": [("served_model", "provider", "provider_key"), "attempts_table"]},
        ),
        (
            "Usage and cost",
            {
                "fields": [
                    ("input_tokens", "output_tokens", "reasoning_tokens"),
                    ("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens"),
                    "usage_estimated",
                    ("cost_display", "cost_usd"),
                    ("cached", "saved_display", "cost_saved_usd"),
                    ("input_price_per_mtok", "output_price_per_mtok"),
                    ("cache_read_price_per_mtok", "cache_write_price_per_mtok", "cache_write_1h_price_per_mtok"),
                ]
            },
        ),
        ("Timing", {"fields": [("latency_ms", "ttft_ms")]}),
    ]

    # --- the list -------------------------------------------------------------------------
    @admin.display(description="Created", ordering="created_at")
    def created(self, obj: CompletionRecord) -> str:
        return f"{timezone.localtime(obj.created_at):%Y-%m-%d %H:%M}"

    @admin.display(description="Client", ordering="client_name")
    def client_linked(self, obj: CompletionRecord) -> SafeString:
        return client_link_html(obj, obj.client_name or "—")

    @admin.display(description="Client", ordering="client_name")
    def client_plain(self, obj: CompletionRecord) -> str:
        return obj.client_name or "—"

    @admin.display(description="Tokens in / out")
    def tokens(self, obj: CompletionRecord) -> str:
        return f"{obj.input_tokens:,} / {obj.output_tokens:,}"

    @admin.display(description="Cost", ordering="cost_usd")
    def cost(self, obj: CompletionRecord) -> SafeString:
        return usd_html(obj.cost_usd)

    @admin.display(description="Latency (ms)", ordering="latency_ms")
    def latency(self, obj: CompletionRecord) -> str:
        return ms_text(obj.latency_ms)

    # --- the detail page ------------------------------------------------------------------
    @admin.display(description="Client key")
    def client_key_linked(self, obj: CompletionRecord) -> SafeString:
        return client_link_html(obj, _client_key_text(obj))

    @admin.display(description="Client key")
    def client_key_plain(self, obj: CompletionRecord) -> str:
        return _client_key_text(obj)

    @admin.display(description="Attempts (the fallback chain as tried)")
    def attempts_table(self, obj: CompletionRecord) -> SafeString:
        return attempts_html(obj.attempts)

    @admin.display(description="Cost")
    def cost_display(self, obj: CompletionRecord) -> SafeString:
        return usd_html(obj.cost_usd)

    @admin.display(description="Saved by cache")
    def saved_display(self, obj: CompletionRecord) -> SafeString:
        return usd_html(obj.cost_saved_usd)

    # Display callables get only the row: whether the user may follow a link to the client
    # key is decided per request by choosing the linked or the plain column (no dead ends).
    def _may_open_clients(self, request: HttpRequest) -> bool:
        return may_open(request.user, ClientKey)

    def get_list_display(self, request: HttpRequest) -> list[str]:
        chosen = "client_linked" if self._may_open_clients(request) else "client_plain"
        return [chosen if f == "client" else f for f in self.list_display]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [*self.readonly_fields, "client_key_linked", "client_key_plain"]

    def get_fieldsets(self, request: HttpRequest, obj: object = None) -> list:
        chosen = "client_key_linked" if self._may_open_clients(request) else "client_key_plain"
        return fieldsets_with(self.fieldsets, "client_key", chosen)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and "cl" in (response.context_data or {}):
            response.context_data["totals"] = records_totals(response.context_data["cl"].queryset)
        return response

    @admin.action(description="Export selected records as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[CompletionRecord]) -> StreamingHttpResponse:
        # "Select all" exports the whole filtered list, streamed; the exportcosts format.
        return csv_streaming_response(request, queryset.order_by("created_at", "id"), filename="completion-records.csv")


TOTAL_PLACES = 4  # as the finance report's cost columns (metrics_app/formatting.py)


def records_totals(qs: QuerySet[CompletionRecord]) -> dict[str, Any]:
    """One aggregate over the list's filtered records (exact money sums, as the finance report's)."""
    row = aggregate_row(qs.order_by().aggregate(**record_aggregates()))
    row["cost_exact"] = cost_format(row["cost_usd"])
    row["saved_exact"] = cost_format(row["cost_saved_usd"])
    # Totals at the finance report's precision, so a drill-down reads the amount that was clicked.
    row["cost_text"] = usd_text(row["cost_usd"], TOTAL_PLACES)
    row["saved_text"] = usd_text(row["cost_saved_usd"], TOTAL_PLACES)
    row["requests_count"] = row["requests"]
    for f in ("requests", "input_tokens", "output_tokens"):
        row[f] = f"{row[f]:,}"
    return row
