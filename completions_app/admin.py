"""The admin of completions_app: client keys and teams (admin_keys), records (admin_records), roll-ups."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from . import admin_tokens  # noqa: F401 - management tokens and the history list, in their own module
from .admin_format import usd_html
from .admin_keys import ClientKeyAdmin, TeamAdmin
from .admin_records import CompletionRecordAdmin, ReadOnlyAdmin
from .models import ClientKey, CompletionRecord, CostRollup, Team
from .services.rollup import rollup_catch_up

admin.site.register(Team, TeamAdmin)
admin.site.register(ClientKey, ClientKeyAdmin)
admin.site.register(CompletionRecord, CompletionRecordAdmin)

# No "View site": the gateway has no public pages (it was a 404). The header links the finance
# report instead, to those who may open it (templates/admin/base_site.html).
admin.site.site_url = None


@admin.register(CostRollup)
class CostRollupAdmin(ReadOnlyAdmin):
    list_display = ["period", "start", "model", "provider", "client", "requests", "errors", "cache_hits", "cost"]
    list_filter = ["period", "model", "provider", "client_name"]
    date_hierarchy = "bucket_start"
    change_list_template = "admin/completions_app/costrollup/change_list.html"

    @admin.display(description="Start", ordering="bucket_start")
    def start(self, obj: CostRollup) -> str:
        return f"{timezone.localtime(obj.bucket_start):%Y-%m-%d %H:%M}"

    @admin.display(description="Client", ordering="client_name")
    def client(self, obj: CostRollup) -> str:
        return obj.client_name or "—"

    @admin.display(description="Cost", ordering="cost_usd")
    def cost(self, obj: CostRollup) -> object:
        return usd_html(obj.cost_usd)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # Roll-ups are made by a Celery beat, which the embedded default does not run: bring
        # them up to date from the records here, so this list is never empty or stale.
        caught_up = rollup_catch_up()
        return super().changelist_view(request, {**(extra_context or {}), "rollup_caught_up": caught_up})
