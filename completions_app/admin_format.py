"""How the admin shows money, durations and links: one precision per column, exact value on hover."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Model
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .services.cost import cost_format

USD_PLACES = 6  # $0.000148: a cheap request is still readable, a month's total too


def usd_text(value: Decimal | None, places: int = USD_PLACES) -> str:
    """Dollars with thousands separators and a fixed number of places: "$1,234.567890"; a
    nonzero amount too small to show is "<$0.000001", never "$0.000000" (as the report does)."""
    if value is None:
        return "—"
    step = Decimal(1).scaleb(-places)
    rounded = value.quantize(step, rounding=ROUND_HALF_UP)
    if value and not rounded:
        return f"<${step:f}" if value > 0 else f">-${step:f}"
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.{places}f}"


def usd_html(value: Decimal | None, places: int = USD_PLACES) -> SafeString:
    """usd_text with the exact value in a title (hover) and a data attribute (tests, copy)."""
    if value is None:
        return format_html("{}", "—")
    exact = cost_format(value)
    return format_html('<span class="usd" title="${}" data-exact="{}">{}</span>', exact, exact, usd_text(value, places))


def ms_text(value: float | None) -> str:
    """Whole milliseconds with thousands separators; the column header says "(ms)"."""
    return "—" if value is None else f"{value:,.0f}"


def may_open(user: User | AnonymousUser, model: type[Model]) -> bool:
    """Whether the user may open model's admin pages (view or change): else show no link to them."""
    opts = model._meta
    return user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}"
    )


def admin_change_url(model: type[Model], pk: object) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])
