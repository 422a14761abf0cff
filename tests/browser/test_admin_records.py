"""Headless Chromium at 1366 px: the records list shows its money without scrolling, and a totals line
equal to the exact sums of the filtered records (the report's drill-down range carried in as a filter).

AIPROXY_SCREENSHOTS=1 saves the page to docs/img/records-list.png (committed for the docs).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from completions_app.admin_format import usd_text
from completions_app.admin_records import TOTAL_PLACES
from completions_app.models import CompletionRecord
from completions_app.services.cost import cost_format
from metrics_app.finance import records_admin_url
from tests.browser.test_finance_report import browser  # noqa: F401 - the shared Chromium fixture
from tests.unit.finance.conftest import PASSWORD, finance_group_ensure, random_records

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "records-list.png"
WIDTH = 1366


@pytest.fixture
def records():
    # Three weeks of traffic with every cost using all 12 decimal places.
    start = datetime.now(tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=20)
    rows = random_records(start, days=21, n=300, seed=18)
    for i, r in enumerate(rows):
        r.latency_ms = 180 + (i * 373) % 4200  # spread, as real latencies are
    CompletionRecord.objects.bulk_update(rows, ["latency_ms"])
    return rows


def _login(driver, live_server, user: str, next_url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{live_server.url}{reverse('admin:login')}?{urlencode({'next': next_url})}")
    driver.find_element(By.ID, "id_username").send_keys(user)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#login-form input[type=submit]").click()


def test_records_list_fits_1366_px_and_totals_equal_the_sums(browser, live_server, django_user_model, records):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    user = django_user_model.objects.create_user("fin", "fin@example.com", PASSWORD, is_staff=True)
    user.groups.add(finance_group_ensure())
    browser.set_window_size(WIDTH, 1000)

    # A drill-down from the report: a date range and a model.
    days = sorted({r.created_at.date() for r in records})
    start, end = days[3], days[12]
    model = "gpt-4o-mini"
    url = records_admin_url(created_at__date__gte=start.isoformat(), created_at__date__lte=end.isoformat(), model=model)
    _login(browser, live_server, "fin", url)
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.ID, "result_list"))
    assert browser.current_url == live_server.url + url

    viewport = browser.execute_script("return document.documentElement.clientWidth")
    assert WIDTH - 20 <= viewport <= WIDTH
    # Nothing scrolls sideways: not the page, not the table's own scroll box.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= viewport
    box = browser.find_element(By.CSS_SELECTOR, "#changelist .results")
    assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", box)
    box_right = browser.execute_script("return arguments[0].getBoundingClientRect().right", box)
    for css in (
        "th.column-created",
        "th.column-client_plain",
        "th.column-model",
        "th.column-status",
        "th.column-tokens",
        "th.column-cost",
        "th.column-latency",
        "td.field-cost",
    ):
        cell = browser.find_element(By.CSS_SELECTOR, f"#result_list {css}")
        right = browser.execute_script("return arguments[0].getBoundingClientRect().right", cell)
        assert right <= min(viewport, box_right), css

    # The rows shown: the range and model, in dollars at 6 places, exact on hover.
    in_range = CompletionRecord.objects.filter(
        model=model,
        created_at__gte=datetime.combine(start, datetime.min.time(), tzinfo=UTC),
        created_at__lt=datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
    )
    first = browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr td.field-cost .usd")
    exact = Decimal(first.get_attribute("data-exact"))
    assert first.text == usd_text(exact) and first.get_attribute("title") == f"${cost_format(exact)}"
    assert exact in {r.cost_usd for r in in_range}

    # The totals line: one aggregate over the filtered set, equal to Python's exact sums.
    total_cost = sum((r.cost_usd for r in in_range), Decimal(0))
    total_saved = sum((r.cost_saved_usd for r in in_range), Decimal(0))
    assert browser.find_element(By.ID, "totals-requests").text == f"{in_range.count():,}"
    assert browser.find_element(By.ID, "totals-input-tokens").text == f"{sum(r.input_tokens for r in in_range):,}"
    assert browser.find_element(By.ID, "totals-output-tokens").text == f"{sum(r.output_tokens for r in in_range):,}"
    cost = browser.find_element(By.ID, "totals-cost")
    assert Decimal(cost.get_attribute("data-exact")) == total_cost
    assert cost.text == usd_text(total_cost, TOTAL_PLACES)
    assert Decimal(browser.find_element(By.ID, "totals-saved").get_attribute("data-exact")) == total_saved

    # The report's range is the active, removable date filter.
    selected = browser.find_element(By.CSS_SELECTOR, "#changelist-filter li.selected a[href*='created_at__date__gte']")
    assert selected.text == f"{start:%Y-%m-%d} – {end:%Y-%m-%d}"

    if os.environ.get("AIPROXY_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))


def test_a_new_client_key_is_shown_once_and_never_reaches_a_cookie(browser, live_server, django_user_model):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from completions_app.models import ClientKey
    from completions_app.services.client_keys import client_key_hash

    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    _login(browser, live_server, "root", reverse("admin:completions_app_clientkey_add"))
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.ID, "id_name"))
    browser.find_element(By.ID, "id_name").send_keys("from-browser")
    browser.find_element(By.CSS_SELECTOR, "input[name=_save]").click()
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.ID, "new-client-key"))
    plaintext = browser.find_element(By.ID, "new-client-key").get_attribute("value")
    assert ClientKey.objects.get(name="from-browser").key_hash == client_key_hash(plaintext)
    assert browser.page_source.count(plaintext) == 1
    browser.find_element(By.ID, "copy-key").click()
    WebDriverWait(browser, 5).until(lambda d: d.find_element(By.ID, "copy-status").text)
    # Not in any cookie the browser holds, not in the URL; gone on the next page.
    assert all(plaintext not in c["value"] for c in browser.get_cookies())
    assert plaintext not in browser.current_url
    browser.find_element(By.ID, "done-link").click()
    WebDriverWait(browser, 15).until(lambda d: "new-client-key" not in d.page_source)
    assert plaintext not in browser.page_source
    assert all(plaintext not in c["value"] for c in browser.get_cookies())
