from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .admin_prices import ModelPriceInline, sync_prices
from .models import Model, ModelFallback, ModelPrice, Provider, ProviderKey, mode_named
from .prices import price_history_record


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
    readonly_fields = [
        "secret_tail",
        "healthy",
        "last_probe_latency_ms",
        "last_probe_error",
        "last_used_at",
        "last_probe_at",
    ]
    fields = [
        "label",
        "secret_tail",
        "new_secret",
        "weight",
        "enabled",
        "healthy",
        "last_probe_latency_ms",
        "last_probe_error",
        "last_used_at",
        "last_probe_at",
    ]


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "base_url",
        "timeout_s",
        "enabled",
        "healthy",
        "last_probe_latency_ms",
        "last_probe_at",
    ]
    list_filter = ["kind", "enabled", "healthy"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["healthy", "last_probe_at", "last_probe_latency_ms", "created_at", "updated_at"]
    inlines = [ProviderKeyInline]
    actions = ["probe_now"]

    @admin.action(description="Probe selected providers now", permissions=["change"])
    def probe_now(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        from .tasks import probe_providers_enqueue  # noqa: PLC0415 - Celery loads on first use, not in serve

        probe_providers_enqueue(provider_ids=list(queryset.values_list("pk", flat=True)))
        messages.info(request, "Probe queued; health columns update when it has run.")


@admin.register(ProviderKey)
class ProviderKeyAdmin(admin.ModelAdmin):
    form = ProviderKeyForm
    list_display = [
        "label",
        "provider",
        "secret_tail",
        "weight",
        "enabled",
        "healthy",
        "last_probe_latency_ms",
        "last_used_at",
    ]
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
        "input_per_mtok",
        "output_per_mtok",
        "cache_shared",
        "enabled",
    ]
    list_filter = ["mode", "provider", "enabled", "cache_shared", "json_schema_via_tool"]
    search_fields = ["name", "upstream_model"]
    actions = [sync_prices]
    inlines = [ModelFallbackInline, ModelPriceInline]

    def save_model(self, request: HttpRequest, obj: Model, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        price_history_record(obj, source=ModelPrice.Source.ADMIN, changed_by=request.user.get_username())
