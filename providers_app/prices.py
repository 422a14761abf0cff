"""Price history: every change of a model's price fields becomes a new effective-dated ModelPrice.

Writers (admin, management API, loadconfig, syncprices) save the Model, then call
price_history_record; it adds a row only when the prices differ from the latest one,
so re-running an idempotent writer adds nothing.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from .models import Model, ModelPrice

PRICE_FIELDS = (
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
    "cache_write_1h_per_mtok",
)


# What a history row keeps: the prices, and whether the model was free (then it cost 0 whatever they say).
HISTORY_FIELDS = (*PRICE_FIELDS, "free")


def price_values(obj: Model | ModelPrice) -> dict[str, object]:
    return {f: getattr(obj, f) for f in HISTORY_FIELDS}


def price_history_record(
    model: Model, *, source: str, changed_by: str = "", valid_from: datetime | None = None
) -> ModelPrice | None:
    """Record the model's current prices as a new effective-dated price, if they changed."""
    latest = model.price_history.order_by("-valid_from", "-id").first()
    values = price_values(model)
    if latest is not None and price_values(latest) == values:
        return None
    return ModelPrice.objects.create(
        model=model,
        valid_from=valid_from or timezone.now(),
        source=source,
        changed_by=changed_by[:150],
        **values,
    )


def price_at(model: Model, when: datetime) -> ModelPrice | None:
    """The price in force at `when` (None before the model's first recorded price)."""
    return model.price_history.filter(valid_from__lte=when).order_by("-valid_from", "-id").first()
