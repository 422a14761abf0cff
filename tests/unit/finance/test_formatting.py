"""The report's number formatting: one precision per column, separators, `$`, the exact value on hover."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template

from metrics_app.formatting import change_percent, change_text, integer_text, money_exact, money_text


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (Decimal("1234.56789"), 4, "$1,234.5679"),  # half-up, thousands separated
        (Decimal("1234567.5"), 4, "$1,234,567.5000"),  # always the column's places
        (Decimal("0.03561285"), 4, "$0.0356"),
        (Decimal("0.00005"), 4, "$0.0001"),  # half-up, not half-even
        (Decimal("0.000049999999"), 4, "<$0.0001"),  # not "$0.0000": it is not nothing
        (Decimal("0.000000000001"), 4, "<$0.0001"),
        (Decimal("0"), 4, "$0.0000"),
        (Decimal("0E-12"), 4, "$0.0000"),
        (Decimal("-2.5"), 4, "-$2.5000"),
        (Decimal("-0.00000001"), 4, ">-$0.0001"),
        (Decimal("100"), 2, "$100.00"),
        (Decimal("99.995"), 2, "$100.00"),
        (7, 2, "$7.00"),
    ],
)
def test_money_text(value, places, text):
    assert money_text(value, places) == text


def test_money_exact_is_the_whole_decimal_without_exponent_or_separators():
    assert money_exact(Decimal("1234.567890123456")) == "$1234.567890123456"
    assert money_exact(Decimal("0.000000000001")) == "$0.000000000001"  # not 1E-12
    assert money_exact(Decimal("1.500000000000")) == "$1.5"
    assert money_exact(Decimal("0E-12")) == "$0"
    assert money_exact(Decimal("-3.25")) == "-$3.25"
    assert money_exact(None) == money_text(None) == ""


def test_integer_text():
    assert integer_text(22059) == "22,059"
    assert integer_text(1234567890) == "1,234,567,890"
    assert integer_text(0) == "0"
    assert integer_text(999) == "999"


@pytest.mark.parametrize(
    ("current", "previous", "text"),
    [
        (Decimal("112.5"), Decimal("100"), "+12.5 %"),
        (Decimal("96"), Decimal("100"), "-4.0 %"),
        (Decimal("100"), Decimal("100"), "0.0 %"),
        (Decimal("1.00005"), Decimal("1"), "0.0 %"),  # +0.005 % rounds to nothing: no sign
        (30, 10, "+200.0 %"),
        (0, 10, "-100.0 %"),
        (123456, 1, "+12,345,500.0 %"),
        (Decimal("5"), Decimal("0"), "new"),  # no division by zero
        (Decimal("0"), Decimal("0"), "—"),
        (Decimal("0E-12"), Decimal("0E-12"), "—"),
    ],
)
def test_change_text(current, previous, text):
    assert change_text(current, previous) == text


def test_change_percent_is_exact_or_none():
    assert change_percent(Decimal("1"), Decimal("3")) == Decimal(-200) / 3
    assert change_percent(5, 0) is None


def _render(source: str, **context: object) -> str:
    return Template("{% load finance %}" + source).render(Context(context))


def test_money_filter_shows_the_column_precision_and_the_exact_value_on_hover():
    html = _render("{{ v|money }}", v=Decimal("1234.567890123456"))
    assert html == '<span class="amount" title="$1234.567890123456">$1,234.5679</span>'
    assert _render("{{ v|money:2 }}", v=Decimal("1234.567")) == (
        '<span class="amount" title="$1234.567">$1,234.57</span>'
    )
    assert _render("{{ v|money }}", v=None) == ""


def test_integer_filter():
    assert _render("{{ v|integer }}", v=22059) == '<span class="amount" title="22059">22,059</span>'


def test_change_filter_marks_the_direction():
    assert _render("{{ a|change:b }}", a=Decimal("2"), b=Decimal("1")) == '<span class="change up">+100.0 %</span>'
    assert _render("{{ a|change:b }}", a=1, b=2) == '<span class="change down">-50.0 %</span>'
    assert _render("{{ a|change:b }}", a=0, b=0) == '<span class="change same">—</span>'
    assert _render("{{ a|change:b }}", a=3, b=0) == '<span class="change up">new</span>'


def test_usd_filter_stays_exact_plain_text():
    assert _render("{{ v|usd }}", v=Decimal("0.000000000001")) == "0.000000000001"
