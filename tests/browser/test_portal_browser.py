"""The customer portal in headless Chromium: the API's figures, live updates, the chart."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveApi, screenshot


def money(cents: int, code: str) -> str:
    """English (the portal's default language) as Babel writes USD: `$1,234.50`."""
    assert code == "USD"
    return f"${cents / 100:,.2f}"


pytestmark = pytest.mark.browser

CANVAS_PIXELS = """(id) => {
  const c = document.getElementById(id);
  if (!c) { return -1; }
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) { n++; } }
  return n;
}"""


def _portal(live: LiveApi) -> str:
    url: str = live.get("customers/cust_acme/portal_url").json()["customer"]["portal_url"]
    return url


def _usage(live: LiveApi) -> dict[str, Any]:
    body: dict[str, Any] = live.get(
        "customers/cust_acme/projected_usage?external_subscription_id=sub_cust_acme"
    ).json()["customer_projected_usage"]
    return body


def test_portal_shows_the_api_figures_and_moves_with_an_event(page: Any, live: LiveApi) -> None:
    page.goto(_portal(live))
    usage = _usage(live)
    amount = page.locator("#sub-0-amount")
    assert amount.get_attribute("data-cents") == str(usage["amount_cents"])
    assert amount.inner_text() == money(usage["amount_cents"], "USD")
    assert page.locator("#sub-0-projected").inner_text() == money(
        usage["projected_amount_cents"], "USD"
    )
    for j, charge in enumerate(usage["charges_usage"]):
        cell = page.locator(f"#sub-0-charge-{j}-amount")
        assert cell.inner_text() == money(charge["amount_cents"], "USD")
    assert page.locator("#invoices").inner_text().count("Download PDF") >= 1
    page.wait_for_function(
        "() => { const c = document.getElementById('sub-0-daily-0'); return c && c.width > 0; }"
    )
    assert page.evaluate(CANVAS_PIXELS, "sub-0-daily-0") > 500
    screenshot(page, "portal")

    event = {
        "transaction_id": "browser-gb-us",
        "external_subscription_id": "sub_cust_acme",
        "code": "storage_gb",
        "properties": {"gb": 100, "region": "us"},
    }
    assert live.post("events", {"event": event}).status_code == 200
    after = _usage(live)
    assert after["amount_cents"] == usage["amount_cents"] + 500
    expected = money(after["amount_cents"], "USD")
    page.wait_for_function(
        "(text) => document.getElementById('sub-0-amount').textContent === text",
        arg=expected,
        timeout=15000,
    )
    assert page.locator("#sub-0-amount").get_attribute("data-cents") == str(after["amount_cents"])
    screenshot(page, "portal-after-event")


def test_a_bad_portal_link_shows_nothing(page: Any, live: LiveApi) -> None:
    response = page.goto(_portal(live)[:-4] + "AAAA")
    assert response is not None and response.status == 404
    assert "Acme" not in page.content()
