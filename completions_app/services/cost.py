"""Cost in Decimal: tokens × the price in force at request time."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from providers_app.adapters.types import Usage

MTOK = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per 1M tokens. cache_read / cache_write already default to input."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal


def cost_compute(*, usage: Usage, prices: Prices) -> Decimal:
    """Exact: Decimal arithmetic throughout, no float, no rounding."""
    total = (
        usage.input_tokens * prices.input
        + usage.output_tokens * prices.output
        + usage.cache_read_tokens * prices.cache_read
        + usage.cache_write_tokens * prices.cache_write
    )
    return total / MTOK


def cost_format(value: Decimal) -> str:
    """Plain decimal notation, never an exponent (0E-12 -> "0")."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
