"""The customer portal on a 390-pixel-wide phone screen, in headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveApi, screenshot

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def test_portal_fits_a_phone_screen(browser: Any, live: LiveApi) -> None:
    url: str = live.get("customers/cust_acme/portal_url").json()["customer"]["portal_url"]
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_selector("#invoices")
        # The page never scrolls sideways: wide tables scroll inside their own box.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        for table_id in ("invoices",):
            box = page.evaluate(
                "(id) => document.getElementById(id).parentElement.className", table_id
            )
            assert box == "scroll"
        usage = page.locator("table.usage").first
        assert usage.evaluate("t => t.parentElement.className") == "scroll"
        # Every card stays within the screen.
        widths = page.evaluate(
            "[...document.querySelectorAll('.card')].map(c => c.getBoundingClientRect().right)"
        )
        assert widths and max(widths) <= PHONE["width"]
        screenshot(page, "portal-phone")
    finally:
        context.close()
