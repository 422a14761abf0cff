"""Admin for management-API tokens, and a read-only list of the admin's history (LogEntry),
where every write through the management API is recorded too.

A new token is shown once, on the page that answers the "Save" of the add form (rendered
in that response, no-store): never through the messages framework, whose cookie or
session would keep it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from .models import ManagementToken
from .services.management_tokens import management_token_create

PLAINTEXT_ATTR = "_aiproxy_new_management_token"


@admin.register(ManagementToken)
class ManagementTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "prefix", "active", "user", "created_at", "last_used_at"]
    list_filter = ["role", "active"]
    search_fields = ["name", "prefix"]

    def get_fields(self, request: HttpRequest, obj: ManagementToken | None = None) -> list[str]:
        if obj is None:
            return ["name", "role"]
        return ["name", "role", "prefix", "user", "active", "created_at", "last_used_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ManagementToken | None = None) -> list[str]:
        if obj is None:
            return []
        # The role is the user's group: a token changes role by being replaced, not edited.
        return ["name", "role", "prefix", "user", "created_at", "last_used_at"]

    def save_model(self, request: HttpRequest, obj: ManagementToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        row, plaintext = management_token_create(name=obj.name, role=obj.role)
        obj.__dict__.update({k: v for k, v in row.__dict__.items() if not k.startswith("_")})
        obj._state.adding = False
        setattr(request, PLAINTEXT_ATTR, plaintext)

    def response_add(
        self, request: HttpRequest, obj: ManagementToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        plaintext = getattr(request, PLAINTEXT_ATTR, None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Management token {obj.name}",
            "token": obj,
            "plaintext": plaintext,
        }
        response = TemplateResponse(request, "admin/completions_app/managementtoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response


class LogEntryAdmin(admin.ModelAdmin):
    """Who changed what, from the admin and from the management API (superusers see it)."""

    list_display = ["action_time", "user", "content_type", "object_repr", "action_flag", "change"]
    list_filter = ["action_flag", "content_type"]
    search_fields = ["object_repr", "user__username"]
    date_hierarchy = "action_time"
    list_select_related = ["user", "content_type"]

    @admin.display(description="change")
    def change(self, obj: LogEntry) -> str:
        return obj.get_change_message()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


if not admin.site.is_registered(LogEntry):
    admin.site.register(LogEntry, LogEntryAdmin)
