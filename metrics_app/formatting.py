"""How the finance report writes numbers for people: `$1,234.5679`, `22,059`, `+12.5 %`.

One precision per column (the template names it), so a column's decimals line up; the
exact value stays available (the `title` on hover, the CSV, the records). Formatting only:
the numbers themselves are the exact sums (metrics_app/finance.py).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from completions_app.services.cost import cost_format

MONEY_PLACES = 4  # per-request costs are fractions of a cent: 4 places still tell rows apart
BUDGET_PLACES = 2  # budgets are set by people, in dollars and cents
CHANGE_PLACES = 1
NO_CHANGE = "—"  # nothing now and nothing before
NEW = "new"  # something now, nothing before: no finite %


def _step(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def money_text(value: Decimal | int | None, places: int = MONEY_PLACES) -> str:
    """`$1,234.5679` (half-up to `places`); a nonzero amount too small to show is `<$0.0001`,
    never `$0.0000`, which would read as "nothing"."""
    if value is None:
        return ""
    value = Decimal(value)
    shown = value.quantize(_step(places), rounding=ROUND_HALF_UP)
    if value and not shown:
        return f"<${_step(places)}" if value > 0 else f">-${_step(places)}"
    sign = "-" if shown < 0 else ""
    return f"{sign}${abs(shown):,.{places}f}"


def money_exact(value: Decimal | int | None) -> str:
    """The exact amount, `$1234.567890123456`: no rounding, no separators, no exponent."""
    if value is None:
        return ""
    value = Decimal(value)
    sign = "-" if value < 0 else ""
    return f"{sign}${cost_format(abs(value))}"


def integer_text(value: int | None) -> str:
    """`22,059`."""
    return "" if value is None else f"{int(value):,}"


def change_percent(current: Decimal | int, previous: Decimal | int) -> Decimal | None:
    """The change from `previous` to `current` in % of `previous`; None when `previous` is 0
    (no finite change: see change_text)."""
    previous = Decimal(previous)
    if not previous:
        return None
    return (Decimal(current) - previous) * 100 / abs(previous)


def change_text(current: Decimal | int, previous: Decimal | int) -> str:
    """`+12.5 %`, `-4.0 %`, `0.0 %`; `new` when there was nothing before, `—` when there is
    nothing either way."""
    pct = change_percent(current, previous)
    if pct is None:
        return NEW if current else NO_CHANGE
    shown = pct.quantize(_step(CHANGE_PLACES), rounding=ROUND_HALF_UP)
    sign = "+" if shown > 0 else "-" if shown < 0 else ""
    return f"{sign}{abs(shown):,.{CHANGE_PLACES}f} %"


def change_direction(current: Decimal | int, previous: Decimal | int) -> str:
    """ "up", "down" or "same" (for a CSS class)."""
    if current == previous:
        return "same"
    return "up" if current > previous else "down"
