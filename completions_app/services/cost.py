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
    cache_write: Decimal  # 5-minute cache writes
    cache_write_1h: Decimal | None = None  # 1-hour cache writes; None = the 5-minute price

    @property
    def cache_write_1h_or_5m(self) -> Decimal:
        return self.cache_write if self.cache_write_1h is None else self.cache_write_1h


def cost_compute(*, usage: Usage, prices: Prices) -> Decimal:
    """Exact: Decimal arithmetic throughout, no float, no rounding."""
    long_writes = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
    total = (
        usage.input_tokens * prices.input
        + usage.output_tokens * prices.output
        + usage.cache_read_tokens * prices.cache_read
        + (usage.cache_write_tokens - long_writes) * prices.cache_write
    )
    if long_writes:
        total += long_writes * prices.cache_write_1h_or_5m
    return total / MTOK


def cost_format(value: Decimal) -> str:
    """Plain decimal notation, never an exponent (0E-12 -> "0")."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
