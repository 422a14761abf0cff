"""Headless Chromium: a finance user logs in through the admin, opens the report, sees the chart and totals.

Needs the Debian packages `chromium` and `chromium-driver`. Without them the test
skips, unless --require-services (CI) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from completions_app.models import CompletionRecord
from completions_app.services.cost import cost_format
from metrics_app.formatting import money_text
from metrics_app.groups import UNKNOWN_MODEL
from tests.unit.finance.conftest import PASSWORD, finance_group_ensure, record_create
from tests.unit.finance.report_data import realistic_records

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path("/tmp/finance-report.png")
# Written by the realistic-data test when AIPROXY_SCREENSHOTS=1 (docs/finance.md shows it).
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "finance-report.png"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1400",
)


@pytest.fixture
def browser(request, tmp_path, monkeypatch):
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    missing = [str(p) for p in (CHROMIUM, Path(driver_path)) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package (requirements-dev.txt)")
    if missing:
        reason = f"headless Chromium needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if request.config.getoption("--require-services"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not try to download anything
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def records():
    """Three models over five days; one (day, model) pair with zero cost that must draw nothing."""
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    costs = ["0.123456789012", "1.5", "0.000000000003", "2.718281828459", "0.333333333333"]
    for day in range(5):
        when = now - timedelta(days=day)
        record_create(when, model="gpt-4o-mini", provider="oa", cost=costs[day])
        record_create(when + timedelta(minutes=5), model="gpt-4o-mini", provider="oa", cost="0.01")
        if day != 2:
            record_create(when, model="claude-3-5-haiku", provider="an", cost=f"0.{day + 1}00000000001")
        record_create(when, model="llama3", provider="ol", cost="0" if day == 1 else "0.05")
    record_create(now, model="gpt-4o-mini", status=CompletionRecord.Status.ERROR, cost="0")


def _expected_cells() -> dict[tuple[str, str], Decimal]:
    cells: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in CompletionRecord.objects.all():
        cells[(timezone.localtime(r.created_at).date().isoformat(), r.model)] += r.cost_usd
    return {k: v for k, v in cells.items() if v > 0}


def _login(browser, live_server, django_user_model, path: str) -> None:
    """A finance user signs in through the admin's form on the way to `path`; the chart is drawn."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    user = django_user_model.objects.create_user("fin", "fin@example.com", PASSWORD, is_staff=True)
    user.groups.add(finance_group_ensure())
    browser.get(live_server.url + path)
    browser.find_element(By.ID, "id_username").send_keys("fin")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form input[type=submit]").click()
    WebDriverWait(browser, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#finance-chart[data-drawn=true] rect.bar")
    )


def test_finance_user_logs_in_and_sees_the_chart_and_totals(browser, live_server, django_user_model, records):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # Not logged in: the report sends the browser to the admin login form, and back after it.
    _login(browser, live_server, django_user_model, reverse("finance:report"))
    assert browser.current_url.startswith(live_server.url + reverse("finance:report"))

    # The chart: one bar segment per (day, model) that cost something, carrying the exact amount.
    expected = _expected_cells()
    bars = browser.find_elements(By.CSS_SELECTOR, "#finance-chart rect.bar")
    drawn = {(b.get_attribute("data-day"), b.get_attribute("data-model")): b for b in bars}
    assert len(bars) == len(expected)
    assert set(drawn) == set(expected)
    for key, bar in drawn.items():
        assert Decimal(bar.get_attribute("data-cost")) == expected[key]
        assert float(bar.get_attribute("height")) >= 1
    # Stacks are to scale: bar heights per day are proportional to the day's cost.
    day_cost: dict[str, Decimal] = defaultdict(Decimal)
    day_height: dict[str, float] = defaultdict(float)
    for (day, _), bar in drawn.items():
        day_cost[day] += expected[(day, bar.get_attribute("data-model"))]
        day_height[day] += float(bar.get_attribute("height"))
    top = max(day_cost, key=lambda d: day_cost[d])
    for day in day_cost:
        ratio = float(day_cost[day] / day_cost[top])
        assert abs(day_height[day] - ratio * day_height[top]) <= 3, day  # 1-px minimum per segment
    legend = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#finance-legend li")]
    assert sorted(legend) == ["claude-3-5-haiku", "gpt-4o-mini", "llama3"]

    # The totals: the records' exact sum, formatted, with the exact value on hover.
    total = sum((r.cost_usd for r in CompletionRecord.objects.all()), Decimal(0))
    cost = browser.find_element(By.CSS_SELECTOR, "#total-cost .amount")
    assert cost.text == money_text(total)
    assert cost.get_attribute("title") == "$" + cost_format(total)
    assert browser.find_element(By.ID, "total-requests").text == str(CompletionRecord.objects.count())
    assert browser.find_element(By.ID, "total-errors").text == "1"

    # The chart is real pixels, not just DOM: the screenshot of its area is not one flat colour.
    chart_png = browser.find_element(By.ID, "finance-chart").screenshot_as_png
    assert len(set(chart_png[100:])) > 50
    browser.save_screenshot(str(SCREENSHOT))

    # Drill-down: clicking a bar segment opens the admin record list for that day and model.
    (day, model), bar = max(drawn.items(), key=lambda kv: float(kv[1].get_attribute("height")))
    bar.click()
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.ID, "result_list"))
    assert f"created_at__date={day}" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == CompletionRecord.objects.filter(model=model, created_at__date=day).count()


def _exact(element) -> Decimal:
    """The exact amount a formatted number carries on hover (its title: "$1234.567890123456")."""
    return Decimal(element.get_attribute("title").replace("$", ""))


def test_formatted_numbers_are_the_exact_sums_and_the_legend_names_what_is_drawn(
    browser, live_server, django_user_model
):
    """~300 requests over three weeks: every formatted total is the records' exact sum (read
    back from its title), a money column has one precision, the legend lists the drawn series."""
    from selenium.webdriver.common.by import By

    data = realistic_records()
    start, end = data.end - timedelta(days=10), data.end  # the 11 days before have records too
    _login(browser, live_server, django_user_model, f"{reverse('finance:report')}?start={start}&end={end}")
    records = CompletionRecord.objects.filter(created_at__date__gte=start, created_at__date__lte=end)
    before = CompletionRecord.objects.filter(
        created_at__date__gte=start - timedelta(days=11), created_at__date__lt=start
    )
    assert records.count() > 100 and before.count() > 100

    for element_id, qs in (("total-cost", records), ("total-cost-previous", before)):
        amount = browser.find_element(By.CSS_SELECTOR, f"#{element_id} .amount")
        expected = sum((r.cost_usd for r in qs), Decimal(0))
        assert _exact(amount) == expected
        assert amount.text == money_text(expected)
    saved = browser.find_element(By.CSS_SELECTOR, "#total-saved .amount")
    assert _exact(saved) == sum((r.cost_saved_usd for r in records), Decimal(0))
    for element_id, expected in (
        ("total-requests", records.count()),
        ("total-input-tokens", sum(r.input_tokens for r in records)),
        ("total-output-tokens", sum(r.output_tokens for r in records)),
    ):
        amount = browser.find_element(By.CSS_SELECTOR, f"#{element_id} .amount")
        assert amount.text == f"{expected:,}" and int(amount.get_attribute("title")) == expected
    assert browser.find_element(By.CSS_SELECTOR, "#total-cost-previous .change").text.endswith("%")

    # Every table: the cost cells sum exactly to the total, each shown to the column's 4 places.
    total = sum((r.cost_usd for r in records), Decimal(0))
    for table in ("day", "model", "provider", "client", "team"):
        cells = browser.find_elements(By.CSS_SELECTOR, f"#finance-by-{table} tbody td.cost .amount")
        assert cells, table
        assert sum((_exact(c) for c in cells), Decimal(0)) == total, table
        for c in cells:
            assert c.text == money_text(_exact(c))
            assert re.fullmatch(r"\$[\d,]+\.\d{4}|<\$0\.0001", c.text), c.text
        assert _exact(browser.find_element(By.CSS_SELECTOR, f"#finance-by-{table} tfoot td.cost .amount")) == total

    # The model table has the free model and one "(unknown model)" row; the chart and its legend
    # only what cost something.
    models = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#finance-by-model tbody th")]
    assert "llama3" in models and models.count(UNKNOWN_MODEL) == 1
    drawn = {b.get_attribute("data-model") for b in browser.find_elements(By.CSS_SELECTOR, "#finance-chart rect.bar")}
    legend = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#finance-legend li")]
    assert len(legend) == len(set(legend)) and set(legend) == drawn
    costly = {m for m in models if records.filter(model=m).exclude(cost_usd=0).exists()}
    assert drawn == costly and "llama3" not in drawn and UNKNOWN_MODEL not in drawn

    if os.environ.get("AIPROXY_SCREENSHOTS") == "1":
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1400, min(int(height) + 40, 4000))
        browser.execute_script("window.scrollTo(0, 0)")
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(DOCS_SCREENSHOT))
