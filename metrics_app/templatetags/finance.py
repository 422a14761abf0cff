"""Template filters for the finance report: numbers for people, the exact value on hover.

    {{ row.cost_usd|money }}       <span class="amount" title="$0.03561285">$0.0356</span>
    {{ budget|money:2 }}           two places (budgets)
    {{ row.input_tokens|integer }} <span class="amount" title="22059">22,059</span>
    {{ now|change:before }}        <span class="change up">+12.5 %</span>, "new", "—"
    {{ value|usd }}                the exact amount as plain text (no $, no separators)

The texts come from metrics_app.formatting (tested there); these only wrap them in HTML.
"""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from completions_app.services.cost import cost_format

from ..formatting import MONEY_PLACES, change_direction, change_text, integer_text, money_exact, money_text

register = template.Library()


@register.filter
def usd(value: Decimal | None) -> str:
    """Exact plain notation (no exponent, no float rounding): what the records and CSV say."""
    return "" if value is None else cost_format(Decimal(value))


def _html_text(text: str) -> str:
    # The texts of metrics_app.formatting hold only digits, "$", ",", ".", "-" and "<"/">"
    # (in "<$0.0001"): escaping those two is all the escaping they need. Not format_html:
    # a report renders ~1,000 numbers and format_html was half of the page's time.
    return text.replace("<", "&lt;").replace(">", "&gt;")


@register.filter
def money(value: Decimal | int | None, places: int = MONEY_PLACES) -> SafeString | str:
    if value is None:
        return ""
    exact, shown = money_exact(value), money_text(value, int(places))
    return mark_safe(f'<span class="amount" title="{_html_text(exact)}">{_html_text(shown)}</span>')  # noqa: S308


@register.filter
def integer(value: int | None) -> SafeString | str:
    if value is None:
        return ""
    n = int(value)
    return mark_safe(f'<span class="amount" title="{n}">{integer_text(n)}</span>')  # noqa: S308


@register.filter
def change(current: Decimal | int | None, previous: Decimal | int | None) -> SafeString | str:
    if current is None or previous is None:
        return ""
    return format_html(
        '<span class="change {}">{}</span>', change_direction(current, previous), change_text(current, previous)
    )
