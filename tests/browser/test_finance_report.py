"""Headless Chromium: a finance user logs in through the admin, opens the report, sees the chart and totals.

Needs the Debian packages `chromium` and `chromium-driver`. Without them the test
skips, unless --require-services (CI) makes that a failure.
"""

from __future__ import annotations

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
from tests.unit.finance.conftest import PASSWORD, finance_group_ensure, record_create

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path("/tmp/finance-report.png")
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


def test_finance_user_logs_in_and_sees_the_chart_and_totals(browser, live_server, django_user_model, records):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    user = django_user_model.objects.create_user("fin", "fin@example.com", PASSWORD, is_staff=True)
    user.groups.add(finance_group_ensure())

    # Not logged in: the report sends the browser to the admin login form, and back after it.
    browser.get(live_server.url + reverse("finance:report"))
    browser.find_element(By.ID, "id_username").send_keys("fin")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form input[type=submit]").click()
    WebDriverWait(browser, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#finance-chart[data-drawn=true] rect.bar")
    )
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

    # The totals: the records' exact sum, as text on the page.
    total = sum((r.cost_usd for r in CompletionRecord.objects.all()), Decimal(0))
    assert browser.find_element(By.ID, "total-cost").text == cost_format(total)
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
