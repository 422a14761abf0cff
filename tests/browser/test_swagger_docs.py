"""Headless Chromium: /api/docs/ (Swagger UI) draws the operations of the management API and
the /v1 routes, with every script and stylesheet from the project itself (no CDN)."""

from __future__ import annotations

import pytest

from .test_finance_report import browser  # noqa: F401 - the shared headless Chromium fixture

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_the_operations_from_local_assets(browser, live_server, db):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(live_server.url + "/api/docs/")
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock .opblock-summary-path"))
    paths = {e.get_attribute("data-path") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/v1/providers", "/api/v1/client-keys/{id}/rotate", "/api/v1/costs/summary"} <= paths
    assert {"/v1/chat/completions", "/v1/messages"} <= paths
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(e => ['script', 'link', 'css', 'img'].includes(e.initiatorType)).map(e => e.name)"
    )
    assert loaded and all(url.startswith(live_server.url) for url in loaded), loaded
