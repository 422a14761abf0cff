from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .admin_prices import PRICE_LABELS, ModelPriceInline, sync_prices
from .models import Model, ModelFallback, ModelPrice, Provider, ProviderKey, mode_named
from .prices import price_history_record

PROBE_LABELS = {
    "healthy": "Healthy",
    "last_probe_at": "Last probe",
    "last_probe_latency_ms": "Probe latency (ms)",
    "last_probe_error": "Last probe error",
    "consecutive_probe_failures": "Failed probes in a row",
}
PROVIDER_LABELS = {"base_url": "Base URL", "timeout_s": "Timeout (s)", **PROBE_LABELS}
KEY_LABELS = {"secret_tail": "Secret ends with", "last_used_at": "Last used", **PROBE_LABELS}
MODEL_LABELS = {
    **PRICE_LABELS,
    "upstream_model": "Upstream model",
    "context_window": "Context window (tokens)",
    "max_output_tokens": "Max output tokens",
}


def price_text(value: Decimal | None) -> str:
    """A price without the column's trailing zeros, at least cents: 3.000000 -> "$3.00", 0.075 -> "$0.075"."""
    if value is None:
        return "—"
    exact = value.normalize()
    shown = exact if -exact.as_tuple().exponent > 2 else value.quantize(Decimal("0.01"))  # type: ignore[operator]
    return f"${shown:,f}"


def ms_text(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def probe_summary(obj: Provider | ProviderKey) -> SafeString:
    """Health, latency and error in one cell: "✔ 123 ms", "✘ auth_error: …" (full error on hover)."""
    if obj.healthy is None:
        return format_html(
            '<span class="probe probe-unknown" title="{}">not probed yet</span>', "No probe has run yet."
        )
    error = getattr(obj, "last_probe_error", "")
    if obj.healthy:
        return format_html('<span class="probe probe-ok">✔ {} ms</span>', ms_text(obj.last_probe_latency_ms))
    short = (error[:40] + "…") if len(error) > 40 else error
    return format_html('<span class="probe probe-failed" title="{}">✘ {}</span>', error, short or "failed")


class ProviderKeyForm(forms.ModelForm):
    """The secret can be set or replaced, never read back: the form has a
    write-only field and the stored value never reaches a page."""

    new_secret = forms.CharField(
        label="Secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the current secret.",
    )

    class Meta:
        model = ProviderKey
        fields = ["provider", "label", "new_secret", "weight", "enabled"]
        labels = KEY_LABELS

    def clean(self) -> dict:
        data = super().clean()
        if not self.instance.pk and not data.get("new_secret"):
            self.add_error("new_secret", "A new key needs its secret.")
        return data

    def save(self, commit: bool = True) -> ProviderKey:
        key = super().save(commit=False)
        if self.cleaned_data.get("new_secret"):
            key.set_secret(self.cleaned_data["new_secret"])
        if commit:
            key.save()
        return key


class ProviderKeyInline(admin.TabularInline):
    model = ProviderKey
    form = ProviderKeyForm
    extra = 0
    # Seven columns that fit the page: health, latency and error share one (error on hover).
    readonly_fields = ["secret_tail", "probe", "last_used_at"]
    fields = ["label", "secret_tail", "new_secret", "weight", "enabled", "probe", "last_used_at"]

    @admin.display(description="Last probe")
    def probe(self, obj: ProviderKey) -> SafeString:
        return probe_summary(obj)


class ProviderForm(forms.ModelForm):
    class Meta:
        model = Provider
        fields = "__all__"  # noqa: DJ007 - the admin's fields choose
        labels = PROVIDER_LABELS


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["name", "kind", "base_url", "timeout", "enabled", "healthy", "probe_latency", "last_probe_at"]
    list_filter = ["kind", "enabled", "healthy"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["healthy", "last_probe_at", "last_probe_latency_ms", "created_at", "updated_at"]
    inlines = [ProviderKeyInline]
    actions = ["probe_now"]

    @admin.display(description="Timeout (s)", ordering="timeout_s")
    def timeout(self, obj: Provider) -> str:
        return f"{obj.timeout_s:g}"

    @admin.display(description="Probe latency (ms)", ordering="last_probe_latency_ms")
    def probe_latency(self, obj: Provider) -> str:
        return ms_text(obj.last_probe_latency_ms)

    @admin.action(description="Probe selected providers now", permissions=["change"])
    def probe_now(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        from .tasks import (  # noqa: PLC0415 - Celery loads on first use, not in serve
            probe_providers_enqueue,
            probes_background_running,
            probes_queue_is_worker,
        )

        worker = probes_queue_is_worker()
        if not worker and probes_background_running():
            messages.warning(request, "A probe is already running in the background; reload this page in a moment.")
            return
        probe_providers_enqueue(provider_ids=list(queryset.values_list("pk", flat=True)))
        where = "by a Celery worker" if worker else "in the background"
        messages.info(
            request,
            f"Probe started {where}: it takes up to the providers' timeouts. Reload this page to see the results.",
        )


@admin.register(ProviderKey)
class ProviderKeyAdmin(admin.ModelAdmin):
    form = ProviderKeyForm
    list_display = ["label", "provider", "secret_ends", "weight", "enabled", "probe", "last_used_at"]
    list_filter = ["provider", "enabled", "healthy"]
    search_fields = ["label", "provider__name"]
    readonly_fields = [
        "secret_tail",
        "created_at",
        "last_used_at",
        "healthy",
        "last_probe_at",
        "last_probe_latency_ms",
        "last_probe_error",
        "consecutive_probe_failures",
    ]

    @admin.display(description="Last probe")
    def probe(self, obj: ProviderKey) -> SafeString:
        return probe_summary(obj)

    @admin.display(description="Secret ends with")
    def secret_ends(self, obj: ProviderKey) -> str:
        return f"…{obj.secret_tail}" if obj.secret_tail else "—"


class FallbackFormSet(forms.BaseInlineFormSet):
    """A fallback answers the same route as its model: of the same mode (as loadconfig checks)."""

    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            fallback = form.cleaned_data.get("fallback") if form.cleaned_data else None
            if fallback is None or form.cleaned_data.get("DELETE"):
                continue
            if fallback.mode != self.instance.mode:
                form.add_error(
                    "fallback",
                    f"{fallback.name} is {mode_named(fallback.mode)} model; this one is {mode_named(self.instance.mode)} model.",
                )


class ModelFallbackInline(admin.TabularInline):
    model = ModelFallback
    formset = FallbackFormSet
    fk_name = "model"
    extra = 0
    fields = ["position", "fallback"]


class ModelForm(forms.ModelForm):
    """`mode` left out of a posted form is chat, its default (as in the YAML config)."""

    class Meta:
        model = Model
        fields = "__all__"
        labels = MODEL_LABELS

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mode"].required = False

    def clean_mode(self) -> str:
        return self.cleaned_data.get("mode") or Model.Mode.CHAT


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    form = ModelForm
    list_display = [
        "name",
        "mode",
        "provider",
        "upstream_model",
        "input_price",
        "output_price",
        "cache_shared",
        "enabled",
    ]
    list_filter = ["mode", "provider", "enabled", "cache_shared", "json_schema_via_tool"]
    search_fields = ["name", "upstream_model"]
    actions = [sync_prices]
    inlines = [ModelFallbackInline, ModelPriceInline]

    @admin.display(description="Input (USD per 1M tokens)", ordering="input_per_mtok")
    def input_price(self, obj: Model) -> str:
        return price_text(obj.input_per_mtok)

    @admin.display(description="Output (USD per 1M tokens)", ordering="output_per_mtok")
    def output_price(self, obj: Model) -> str:
        return price_text(obj.output_per_mtok)

    def save_model(self, request: HttpRequest, obj: Model, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        price_history_record(obj, source=ModelPrice.Source.ADMIN, changed_by=request.user.get_username())
