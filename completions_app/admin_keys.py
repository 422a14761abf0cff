"""Client keys in the admin: a new or rotated key is shown once, on a page of its own.

The plaintext goes only into the body of the POST's own response (never the messages
framework, whose cookie storage signs but does not encrypt; never a redirect URL or a log
line), with Cache-Control: no-store so no cache or back button keeps it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.cache import add_never_cache_headers

from .models import ClientKey, LimitFields, Team
from .services.client_keys import client_key_generate, client_key_hash, client_key_rotate

LIMIT_LABELS = {
    "rpm": "Requests per minute",
    "tpm": "Tokens per minute",
    "concurrency": "Concurrent requests",
    "budget_usd_day": "Daily budget (USD)",
    "budget_usd_month": "Monthly budget (USD)",
    "alert_fractions": "Alert at fractions of a budget",
    "alert_webhook_url": "Alert webhook URL",
}

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

# (form value, label, overlap): how long the previous secret keeps working after a rotation.
OVERLAPS = [
    ("0", "None: the old key stops now", timedelta(0)),
    ("1h", "1 hour", timedelta(hours=1)),
    ("1d", "1 day", timedelta(days=1)),
    ("7d", "7 days", timedelta(days=7)),
]


def limits_summary(row: LimitFields) -> str:
    """The limits set, compactly: "60 rpm · $10.00/month"; "—" when none."""
    parts = [f"{value} {name}" for name in ("rpm", "tpm", "concurrency") if (value := getattr(row, name)) is not None]
    parts += [
        f"${value.normalize():f}/{period}"
        for period in ("day", "month")
        if (value := getattr(row, f"budget_usd_{period}")) is not None
    ]
    return " · ".join(parts) or "—"


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose
        labels = LIMIT_LABELS


class TeamAdmin(admin.ModelAdmin):
    form = TeamForm
    list_display = ["name", "limits", "key_count"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]
    fieldsets = [(None, {"fields": ["name", "created_at"]}), LIMIT_FIELDSET]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(key_count=Count("keys"))

    @admin.display(description="Limits")
    def limits(self, obj: Team) -> str:
        return limits_summary(obj)

    @admin.display(description="Client keys", ordering="key_count")
    def key_count(self, obj: Team) -> int:
        return obj.key_count  # type: ignore[attr-defined]


class ClientKeyForm(forms.ModelForm):
    class Meta:
        model = ClientKey
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose
        labels = {**LIMIT_LABELS, "prefix": "Key starts with", "expires_at": "Expires at"}


class RotateForm(forms.Form):
    overlap = forms.ChoiceField(
        label="The current key keeps working for",
        choices=[(value, label) for value, label, _ in OVERLAPS],
        initial="1d",
        widget=forms.RadioSelect,
        help_text="Time for the key's users to switch to the new key. Within it both keys work.",
    )

    def overlap_delta(self) -> timedelta:
        return {value: delta for value, _, delta in OVERLAPS}[self.cleaned_data["overlap"]]


def key_once_response(request: HttpRequest, context: dict[str, Any]) -> TemplateResponse:
    """The one page that ever shows a key's plaintext: rendered in the POST's response, never stored."""
    response = TemplateResponse(request, "admin/completions_app/clientkey/key_once.html", context)
    add_never_cache_headers(response)  # includes no-store
    return response


class ClientKeyAdmin(admin.ModelAdmin):
    form = ClientKeyForm
    list_display = ["name", "prefix", "active", "team", "limits", "expires_at", "created_at", "last_used_at"]
    list_filter = ["active", "team"]
    list_select_related = ["team"]
    search_fields = ["name", "prefix", "team__name"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "previous_key_until"]
    filter_horizontal = ["allowed_models"]
    change_form_template = "admin/completions_app/clientkey/change_form.html"
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
                    ("created_at", "last_used_at"),
                    "previous_key_until",
                ]
            },
        ),
        LIMIT_FIELDSET,
    ]

    @admin.display(description="Limits")
    def limits(self, obj: ClientKey) -> str:
        return limits_summary(obj)

    @admin.display(description="Previous key works until")
    def previous_key_until(self, obj: ClientKey) -> str:
        if not obj.previous_key_hash or obj.previous_key_expires_at is None:
            return "— (no previous key)"
        return formats.date_format(timezone.localtime(obj.previous_key_expires_at), "DATETIME_FORMAT")

    def save_model(self, request: HttpRequest, obj: ClientKey, form: forms.ModelForm, change: bool) -> None:
        if not change:
            plaintext = client_key_generate()
            obj.key_hash = client_key_hash(plaintext)
            obj.prefix = plaintext[:8]
            # Only on this in-memory row, for response_add below; only the hash is stored.
            obj._plaintext = plaintext  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: ClientKey, post_url_continue: str | None = None) -> HttpResponse:
        plaintext = getattr(obj, "_plaintext", None)
        if plaintext is None:  # not a key this request made: the usual redirect
            return super().response_add(request, obj, post_url_continue)
        return key_once_response(request, self._once_context(request, obj, plaintext, "created"))

    # --- rotation -------------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        rotate = path(
            "<path:object_id>/rotate/",
            self.admin_site.admin_view(self.rotate_view),
            name="completions_app_clientkey_rotate",
        )
        return [rotate, *super().get_urls()]

    def rotate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not object_id.isdigit():
            raise Http404
        key = get_object_or_404(ClientKey, pk=int(object_id))
        if not self.has_change_permission(request, key):
            raise PermissionDenied
        form = RotateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            overlap = form.overlap_delta()
            row, plaintext = client_key_rotate(key, overlap)
            label = {v: lbl for v, lbl, _ in OVERLAPS}[form.cleaned_data["overlap"]]
            self.log_change(request, row, f"Rotated the key (previous key works for: {label}).")
            return key_once_response(request, self._once_context(request, row, plaintext, "rotated", overlap))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": key,
            "title": f"Rotate the key of {key.name}",
            "form": form,
        }
        return TemplateResponse(request, "admin/completions_app/clientkey/rotate.html", context)

    def _once_context(
        self, request: HttpRequest, row: ClientKey, plaintext: str, verb: str, overlap: timedelta | None = None
    ) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": row,
            "title": f"Client key {verb}: {row.name}",
            "plaintext": plaintext,
            "verb": verb,
            "overlap": overlap,
            "change_url": reverse("admin:completions_app_clientkey_change", args=[row.pk]),
        }
