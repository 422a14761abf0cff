"""Prices from a maintained catalogue: the pinned `genai-prices` package and the data it ships
(no network: its UpdatePrices downloader is never started, so the bundled snapshot is used).

Each model is looked up by the package's own rules (`DataSnapshot.find_provider` and
`Provider.find_model`: the match clauses of its data, e.g. `claude-3-5-haiku-20241022` is its
`claude-3-5-haiku-latest`), never by a guess of ours. The catalogue provider is found by the
provider's base URL when one is set (the package's `api_pattern`s: an OpenAI-compatible
server elsewhere is not OpenAI), by its kind otherwise. The price compared is the catalogue's
standard one in force now: no batch, priority or fast variant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from django.db import transaction
from genai_prices import __version__ as catalogue_package_version
from genai_prices import data_snapshot
from genai_prices import types as cat

from .models import Model, ModelPrice
from .prices import PRICE_FIELDS, price_history_record

# Our field: the catalogue's price keys for it, the first one set wins. Anthropic's plain cache
# write is its 5-minute write (1.25× input); its 1-hour write (2×) has a key of its own.
FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "input_per_mtok": ("input_mtok",),
    "output_per_mtok": ("output_mtok",),
    "cache_read_per_mtok": ("cache_read_mtok",),
    "cache_write_per_mtok": ("cache_write_5m_mtok", "cache_write_mtok"),
    "cache_write_1h_per_mtok": ("cache_write_1h_mtok",),
}
PLACES = Decimal("0.000001")  # the price columns' 6 decimal places


class Status:
    DIFFERS = "differs"
    SAME = "same"
    NOT_IN_CATALOGUE = "not in catalogue"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class FieldDiff:
    field: str
    ours: Decimal | None
    catalogue: Decimal | None

    @property
    def ours_text(self) -> str:
        return price_text(self.field, self.ours)

    @property
    def catalogue_text(self) -> str:
        return price_text(self.field, self.catalogue)


@dataclass(frozen=True)
class PriceCheck:
    """One model compared with the catalogue."""

    model: Model
    status: str
    reason: str = ""  # why not in the catalogue, or skipped
    catalogue_provider: str = ""
    catalogue_model: str = ""
    prices: dict[str, Decimal | None] = field(default_factory=dict)  # the catalogue's, as our fields
    diffs: tuple[FieldDiff, ...] = ()
    notes: tuple[str, ...] = ()  # tiers, future prices, deprecation, rounding


def catalogue_snapshot() -> data_snapshot.DataSnapshot:
    """The package's bundled data (a custom snapshot only if something in-process set one)."""
    return data_snapshot.get_snapshot()


def catalogue_version() -> str:
    return f"genai-prices {catalogue_package_version}"


def effective(values: dict[str, Decimal | None]) -> dict[str, Decimal | None]:
    """Prices as charged: an empty cache price is the input price (the 1-hour write: the 5-minute
    one). The catalogue means the same by a missing key, so equal effective prices are no difference."""
    out = dict(values)
    for f in ("cache_read_per_mtok", "cache_write_per_mtok"):
        if out[f] is None:
            out[f] = out["input_per_mtok"]
    if out["cache_write_1h_per_mtok"] is None:
        out["cache_write_1h_per_mtok"] = out["cache_write_per_mtok"]
    return out


def _find(snapshot: data_snapshot.DataSnapshot, model: Model) -> tuple[cat.Provider, cat.ModelInfo] | str:
    """The catalogue's provider and model for ours, or why there is none."""
    provider = model.provider
    try:
        if provider.base_url:
            found = snapshot.find_provider(None, None, provider.base_url)
        else:
            found = snapshot.find_provider(None, provider.kind, None)
    except LookupError:
        where = f"base URL {provider.base_url}" if provider.base_url else f"kind {provider.kind!r}"
        return f"the catalogue has no provider for {where}"
    info = found.find_model(model.upstream_model, all_providers=snapshot.providers)
    if info is None:
        return f"the catalogue's {found.id} has no model {model.upstream_model!r}"
    return found, info


def _value(price: cat.ModelPrice, keys: tuple[str, ...]) -> Decimal | cat.TieredPrices | None:
    for key in keys:
        value = getattr(price, key, None)
        if value is not None:
            return value
    return None


def _future_prices(info: cat.ModelInfo, when: datetime) -> list[str]:
    if not isinstance(info.prices, list):
        return []
    return [
        f"the catalogue has other prices from {c.constraint.start_date} (not yet in force)"
        for c in info.prices
        if isinstance(c.constraint, cat.StartDateConstraint) and c.constraint.start_date > when.date()
    ]


def price_check(model: Model, *, snapshot: data_snapshot.DataSnapshot, when: datetime) -> PriceCheck:
    """Compare one model's prices with the catalogue's standard price in force at `when`."""
    if model.free:
        return PriceCheck(model, Status.SKIPPED, reason="marked free: it needs no price")
    found = _find(snapshot, model)
    if isinstance(found, str):
        return PriceCheck(model, Status.NOT_IN_CATALOGUE, reason=found)
    provider, info = found
    price = info.get_prices(when)
    raw = {f: _value(price, keys) for f, keys in FIELD_KEYS.items()}
    if raw["input_per_mtok"] is None and raw["output_per_mtok"] is None:
        return PriceCheck(
            model,
            Status.SKIPPED,
            reason=f"the catalogue's {info.id} is not priced per token ({price})",
            catalogue_provider=provider.id,
            catalogue_model=info.id,
        )
    notes = _future_prices(info, when)
    prices: dict[str, Decimal | None] = {}
    tiered: dict[str, cat.TieredPrices] = {}
    for f, value in raw.items():
        if isinstance(value, cat.TieredPrices):
            tiered[f] = value
            value = value.base
        if value is None and f in ("input_per_mtok", "output_per_mtok"):
            value = Decimal(0)  # the catalogue charges nothing for those tokens (an embedding's output)
        if value is not None and value != (rounded := value.quantize(PLACES, ROUND_HALF_EVEN)):
            notes.append(f"{f} {value} rounded to {rounded} (6 decimal places)")
            value = rounded
        prices[f] = value
    if tiered:
        notes.append(_tier_note(tiered))
    if info.deprecated:
        notes.append("the catalogue marks this model deprecated")
    ours = {f: getattr(model, f) for f in PRICE_FIELDS}
    mine, theirs = effective(ours), effective(prices)
    diffs = tuple(FieldDiff(f, ours[f], prices[f]) for f in PRICE_FIELDS if mine[f] != theirs[f])
    return PriceCheck(
        model,
        Status.DIFFERS if diffs else Status.SAME,
        catalogue_provider=provider.id,
        catalogue_model=info.id,
        prices=prices,
        diffs=diffs,
        notes=tuple(notes),
    )


def _tier_note(tiered: dict[str, cat.TieredPrices]) -> str:
    """The gateway has one price per token type: the base tier is used, and the rest is said."""
    starts = sorted({t.start for tp in tiered.values() for t in tp.tiers})
    above = "; ".join(
        f"above {start:,}: "
        + ", ".join(f"{f} {t.price}" for f, tp in tiered.items() for t in tp.tiers if t.start == start)
        for start in starts
    )
    return (
        f"tiered by prompt size: the base tier is used (prompts up to {starts[0]:,} input tokens); "
        f"the higher tiers are not applied ({above})"
    )


def prices_compare(
    models: Iterable[Model],
    *,
    snapshot: data_snapshot.DataSnapshot | None = None,
    when: datetime | None = None,
) -> list[PriceCheck]:
    """Every model compared with the catalogue (the bundled one unless a snapshot is given)."""
    snapshot = snapshot or catalogue_snapshot()
    when = when or datetime.now(tz=UTC)
    return [price_check(m, snapshot=snapshot, when=when) for m in models]


@transaction.atomic
def prices_apply(checks: Iterable[PriceCheck], *, changed_by: str) -> list[Model]:
    """Write the catalogue's prices on every model that differs, each as a new effective-dated
    price (source syncprices), all or nothing. Returns the models changed."""
    changed = []
    for check in checks:
        if check.status != Status.DIFFERS:
            continue
        model = check.model
        for f in PRICE_FIELDS:
            setattr(model, f, check.prices[f])
        model.save(update_fields=[*PRICE_FIELDS, "updated_at"])
        price_history_record(model, source=ModelPrice.Source.SYNCPRICES, changed_by=changed_by)
        changed.append(model)
    return changed


EMPTY_MEANS = {
    "input_per_mtok": "(none)",
    "output_per_mtok": "(none)",
    "cache_read_per_mtok": "(= input)",
    "cache_write_per_mtok": "(= input)",
    "cache_write_1h_per_mtok": "(= 5-minute)",
}


def price_text(field_name: str, value: Decimal | None) -> str:
    """A price for people: plain decimal notation, or what an empty one means."""
    if value is None:
        return EMPTY_MEANS[field_name]
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
