"""Issue 15's "Done when": a newcomer, from `make run` and the dashboard alone, builds a
plan with a graduated charge, a customer, a subscription, a coupon and a wallet, watches
usage arrive, and sees January's invoice issued by the running worker under a test clock.

The real process `make run` starts (`meterly quickstart`) runs as a subprocess on a
frozen clock: mid-January first, then restarted on 1 February, where its worker must bill
the closed period by itself (no `meterly bill`). Only the events go through the HTTP API,
as the customer's own application would send them. SQLite only: quickstart's own database.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveApi, screenshot
from tests.browser.dashboard_forms_support import flash_text, sign_in_as_admin
from tests.compat.conftest import cli_env, free_port, stop, wait_until_healthy
from tests.e2e.test_portal import ts

pytestmark = pytest.mark.browser

MID_JANUARY = "2024-01-15T12:00:00Z"
AFTER_JANUARY = "2024-02-01T06:00:00Z"
# Seeding the demo (100 customers, three months of events and invoices) comes before the
# server answers /health; on a busy 2-core machine it can outlast wait_until_healthy's 30 s.
BANNER_SECONDS = 120.0
POLL_SECONDS = 30.0


def _quickstart(db_url: str, port: int, frozen_time: str, log_path: Path) -> Any:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meterly.cli",
                "quickstart",
                "--database-url",
                db_url,
                "--port",
                str(port),
            ],
            env=cli_env(frozen_time),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_for_banner(process: Any, log_path: Path) -> str:
    """The log once the server announced itself (the demo seeded, the key printed)."""
    deadline = time.monotonic() + BANNER_SECONDS
    while time.monotonic() < deadline:
        log = log_path.read_text()
        if "Meterly on http" in log:
            return log
        assert process.poll() is None, f"quickstart exited:\n{log}"
        time.sleep(0.2)
    stop(process)
    raise AssertionError(f"quickstart did not start in {BANNER_SECONDS}s:\n{log_path.read_text()}")


def _field(log: str, name: str) -> str:
    """A `name: value` line of the first start's banner (the key is shown only then)."""
    for line in log.splitlines():
        if line.startswith(f"{name}: "):
            return line.split(": ", 1)[1].strip()
    raise AssertionError(f"no {name!r} in the quickstart banner:\n{log}")


def _reload_until(page: Any, url: str, ready: Any) -> None:
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        page.goto(url)
        if ready():
            return
        assert time.monotonic() < deadline, f"{url} never showed what was awaited"
        time.sleep(0.5)


def _build_everything_in_the_dashboard(page: Any, live: LiveApi) -> None:
    base = live.base
    # A billable metric: the sum of the `requests` property of each event.
    page.goto(f"{base}/dashboard/metrics")
    page.click("text=New metric")
    page.fill("#name", "Requests")
    page.fill("#code", "nw_requests")
    page.select_option("#aggregation_type", "sum_agg")
    page.fill("#field_name", "requests")
    page.click("#metric-form button[type=submit]")
    page.wait_for_url(f"{base}/dashboard/metrics")
    assert "nw_requests" in page.content()
    screenshot(page, "newcomer-2-metric")

    # A plan: 20.00 USD a month in arrears, and a graduated charge on the metric:
    # 0-100 at 0.10, then 101 and above at 0.05 plus a flat 2.00 once the tier is reached.
    page.goto(f"{base}/dashboard/plans")
    page.click("text=New plan")
    page.fill("#name", "Growth")
    page.fill("#code", "nw_growth")
    page.select_option("#interval", "monthly")
    page.fill("#amount", "20")
    page.fill("#currency", "USD")
    assert not page.locator("#pay_in_advance").is_checked()
    page.select_option("#metric_code", "nw_requests")
    page.select_option("#charge_model", "graduated")
    page.fill("#tier0_to", "100")
    page.fill("#tier0_per_unit", "0.10")
    page.fill("#tier1_per_unit", "0.05")
    page.fill("#tier1_flat", "2")
    screenshot(page, "newcomer-3-plan-form")
    page.click("#save-plan")
    page.wait_for_url("**/dashboard/plans/nw_growth?message=*")
    assert page.locator("#charge-nw_requests table.tiers tbody tr").count() == 2
    screenshot(page, "newcomer-4-plan")

    # A customer, billed in USD.
    page.goto(f"{base}/dashboard/customers")
    page.click("#new-customer")
    page.wait_for_url("**/dashboard/customers/new")
    page.fill("#external_id", "cust_newcomer")
    page.fill("#name", "Newcomer Ltd")
    page.fill("#email", "billing@newcomer.test")
    page.fill("#currency", "USD")
    page.click("#save-customer")
    page.wait_for_url("**/dashboard/customers/cust_newcomer?message=*")
    assert flash_text(page) == "Customer cust_newcomer created."

    # A subscription to Growth from 1 January, on calendar months.
    page.click("#new-subscription")
    page.wait_for_url("**/dashboard/customers/cust_newcomer/subscriptions/new")
    page.select_option("#plan_code", "nw_growth")
    page.fill("#external_id", "sub_newcomer")
    page.select_option("#billing_time", "calendar")
    page.fill("#subscription_at", "2024-01-01T00:00")
    page.click("#create-subscription")
    page.wait_for_url("**/dashboard/customers/cust_newcomer?message=*")
    card = page.locator("[data-subscription=sub_newcomer]")
    assert "active" in card.locator(".badge").inner_text()
    screenshot(page, "newcomer-5-subscribed")

    # A coupon of 5.00 USD, once, applied to the customer at its own amount.
    page.goto(f"{base}/dashboard/coupons")
    page.fill("#name", "Welcome five")
    page.fill("#code", "nw_welcome")
    page.select_option("#coupon_type", "fixed_amount")
    page.fill("#amount", "5.00")
    page.fill("#amount_currency", "USD")
    page.select_option("#frequency", "once")
    page.click("#create-coupon")
    page.wait_for_url("**/dashboard/coupons?message=*")
    assert flash_text(page) == "Coupon Welcome five created."
    page.goto(f"{base}/dashboard/customers/cust_newcomer")
    page.click("#customer-coupons")
    page.wait_for_url("**/dashboard/customers/cust_newcomer/applied_coupons")
    page.select_option("#coupon_code", "nw_welcome")
    page.click("#apply-coupon")
    page.wait_for_url("**/applied_coupons?message=*")
    assert flash_text(page) == "Coupon Welcome five applied to cust_newcomer."
    assert "5.00 USD" in page.locator("#applied-coupons").inner_text()
    screenshot(page, "newcomer-6-coupon")

    # A wallet: 10 granted credits at 1.00 USD each, 10.00 USD (1000 cents) to spend.
    page.goto(f"{base}/dashboard/customers/cust_newcomer")
    page.click("#customer-wallets")
    page.wait_for_url("**/dashboard/customers/cust_newcomer/wallets")
    page.fill("#name", "Prepaid")
    page.fill("#currency", "USD")
    page.fill("#rate_amount", "1")
    page.fill("#granted_credits", "10")
    page.click("#create-wallet")
    page.wait_for_url("**/dashboard/wallets/*?message=*")
    assert page.locator("#wallet-balance").get_attribute("data-cents") == "1000"
    screenshot(page, "newcomer-7-wallet")


def test_a_newcomer_bills_a_customer_from_the_dashboard_alone(page: Any, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'm.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "quickstart.log"

    process = _quickstart(db_url, port, MID_JANUARY, log_path)
    try:
        log = _wait_for_banner(process, log_path)
        assert wait_until_healthy(process, base, log_path), log_path.read_text()
        live = LiveApi(base, _field(log, "key"), _field(log, "organization"))
        sign_in_as_admin(page, live)
        screenshot(page, "newcomer-1-signed-in")
        _build_everything_in_the_dashboard(page, live)

        # The customer's application reports usage: 60 + 50 + 40 = 150 requests in January.
        events = [
            {
                "transaction_id": f"nw-{day}",
                "external_subscription_id": "sub_newcomer",
                "code": "nw_requests",
                "timestamp": ts(day),
                "properties": {"requests": requests},
            }
            for day, requests in ((3, 60), (9, 50), (14, 40))
        ]
        with live.http:  # the only API call: the events, as the application sends them
            answer = live.post("events/batch", {"events": events})
        assert answer.status_code == 200, answer.text
        # Graduated: 100 × 0.10 = 10.00, then 50 × 0.05 = 2.50 plus the tier's flat 2.00:
        # 14.50 USD, 1450 cents.
        customer_url = f"{base}/dashboard/customers/cust_newcomer"
        usage = page.locator("[data-subscription=sub_newcomer] .usage-amount")
        _reload_until(page, customer_url, lambda: usage.get_attribute("data-cents") == "1450")
        assert usage.inner_text() == "14.50 USD"
        screenshot(page, "newcomer-8-usage")
    finally:
        stop(process)

    # The clock moves past the period's end; the same command starts the process again.
    restart_log = tmp_path / "quickstart-february.log"
    process = _quickstart(db_url, port, AFTER_JANUARY, restart_log)
    try:
        _wait_for_banner(process, restart_log)
        assert wait_until_healthy(process, base, restart_log), restart_log.read_text()
        sign_in_as_admin(page, live)
        rows = page.locator("#customer-invoices tbody tr", has_text="subscription")
        _reload_until(page, customer_url, lambda: rows.count() > 0)
        assert rows.count() == 1
        screenshot(page, "newcomer-9-invoiced")
        rows.first.locator("a").click()
        page.wait_for_url(f"{base}/dashboard/invoices/*")
        assert page.locator("#invoice-status").inner_text() == "finalized"
        # January in arrears: the plan's 20.00 for the whole month + the usage 14.50 =
        # 34.50; − the coupon 5.00 = 29.50 (no tax in the demo organization); − the
        # wallet's 10.00 of credits = 19.50 USD left to pay, 1950 cents.
        total = page.locator("#invoice-total")
        assert total.get_attribute("data-cents") == "1950"
        assert total.inner_text() == "19.50 USD"
        fees = page.locator("#fees").inner_text()
        assert "20.00 USD" in fees
        assert "14.50 USD" in fees
        screenshot(page, "newcomer-10-invoice")
        # The worker's billing loop issued it (the demo's customers were billed with it).
        restart = restart_log.read_text()
        assert "Worker:    running in this process" in restart
        assert "2024-02-01T06:00:00+00:00: billing issued" in restart
    finally:
        stop(process)
