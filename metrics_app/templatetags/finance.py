"""Template filters for the finance report."""

from __future__ import annotations

from decimal import Decimal

from django import template

from completions_app.services.cost import cost_format

register = template.Library()


@register.filter
def usd(value: Decimal | None) -> str:
    """Exact plain notation (no exponent, no float rounding): what the records and CSV say."""
    return "" if value is None else cost_format(Decimal(value))
