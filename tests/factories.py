"""Rows for tests: providers pointed at the fakes, models with prices, client keys."""

from __future__ import annotations

from decimal import Decimal

from completions_app.services.client_keys import client_key_create
from providers_app.models import Model, ModelFallback, Provider, ProviderKey


def provider_create(
    name: str, kind: str, base_url: str, *, keys: tuple[str, ...] = ("sk-test-key-0001",), timeout_s: float = 5
) -> Provider:
    provider = Provider.objects.create(name=name, kind=kind, base_url=base_url, timeout_s=timeout_s)
    for i, secret in enumerate(keys):
        key = ProviderKey(provider=provider, label=f"key{i + 1}")
        key.set_secret(secret)
        key.save()
    return provider


def model_create(
    name: str,
    provider: Provider,
    *,
    upstream: str | None = None,
    input_price: str | None = "1.00",
    output_price: str | None = "2.00",
    cache_read_price: str | None = None,
    fallbacks: tuple[Model, ...] = (),
    free: bool = False,
) -> Model:
    """A price given as None leaves it empty: the model does not serve unless `free`."""
    model = Model.objects.create(
        name=name,
        provider=provider,
        upstream_model=upstream or name,
        input_per_mtok=Decimal(input_price) if input_price is not None else None,
        output_per_mtok=Decimal(output_price) if output_price is not None else None,
        cache_read_per_mtok=Decimal(cache_read_price) if cache_read_price else None,
        free=free,
    )
    for pos, fb in enumerate(fallbacks):
        ModelFallback.objects.create(model=model, fallback=fb, position=pos)
    return model


def client_create(name: str = "tester", models: tuple[str, ...] = ()) -> str:
    """Returns the plaintext key."""
    return client_key_create(name=name, model_names=models)[1]
