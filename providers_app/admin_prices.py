"""The admin's side of prices: a model's price history (read-only inline) and the "Sync prices
from the catalogue" action, which shows the differences on a confirmation page before it
writes anything (Django's intermediate-page action pattern)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from .models import Model, ModelPrice
from .prices import PRICE_FIELDS


class PriceHistoryFormSet(forms.BaseInlineFormSet):
    """Shown, never posted: a change form's POST binds it to no rows, as if its management form
    said 0, so the history cannot be edited through it and a POST that leaves it out (a script,
    a form made before this inline) is still valid."""

    def __init__(self, data: Any = None, files: Any = None, **kwargs: Any) -> None:
        if data is not None:
            prefix = kwargs.get("prefix") or self.get_default_prefix()
            data = {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
        super().__init__(data, files, **kwargs)


# Labels in words, set on the admin forms (read-only fields take them from Meta.labels too),
# so the models and their migrations stay as they are.
PRICE_LABELS = {
    "input_per_mtok": "Input price (USD per 1M tokens)",
    "output_per_mtok": "Output price (USD per 1M tokens)",
    "cache_read_per_mtok": "Cache read price (USD per 1M tokens)",
    "cache_write_per_mtok": "Cache write price (USD per 1M tokens)",
    "cache_write_1h_per_mtok": "Cache write price, 1-hour TTL (USD per 1M tokens)",
}


class ModelPriceForm(forms.ModelForm):
    class Meta:
        model = ModelPrice
        fields = "__all__"
        labels = {**PRICE_LABELS, "valid_from": "Valid from", "changed_by": "Changed by"}


class ModelPriceInline(admin.TabularInline):
    """Every effective-dated price of the model, newest first; rows are never edited."""

    model = ModelPrice
    form = ModelPriceForm
    formset = PriceHistoryFormSet
    verbose_name = "price"
    verbose_name_plural = "price history (newest first; each change adds a row)"
    extra = 0
    can_delete = False
    ordering = ["-valid_from", "-id"]
    fields = ["valid_from", *PRICE_FIELDS, "free", "source", "changed_by"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.action(description="Sync prices from the catalogue", permissions=["change"])
def sync_prices(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Model]
) -> TemplateResponse | None:
    """First request: the differences, and a form to confirm. The confirming POST compares again
    (prices may have changed since the page was shown) and writes what differs then."""
    # The catalogue (genai-prices and its data) loads on first use, not in every process that loads the admin.
    from .price_catalogue import (  # noqa: PLC0415
        Status,
        catalogue_version,
        prices_apply,
        prices_compare,
    )

    checks = prices_compare(queryset.select_related("provider").order_by("name"))
    if request.POST.get("post") == "yes":
        changed = prices_apply(checks, changed_by=request.user.get_username())
        names = ", ".join(m.name for m in changed) or "none"
        modeladmin.message_user(
            request,
            f"Applied the catalogue's prices ({catalogue_version()}) to {len(changed)} model(s): {names}.",
            messages.SUCCESS,
        )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Sync prices from the catalogue",
        "opts": modeladmin.model._meta,
        "queryset": queryset,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "catalogue": catalogue_version(),
        "differ": [c for c in checks if c.status == Status.DIFFERS],
        "same": [c for c in checks if c.status == Status.SAME],
        "not_compared": [c for c in checks if c.status in (Status.NOT_IN_CATALOGUE, Status.SKIPPED)],
    }
    return TemplateResponse(request, "admin/providers_app/syncprices_confirm.html", context)
