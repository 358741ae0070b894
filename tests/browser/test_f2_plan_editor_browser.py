"""The plan editor in Chromium: taxes, a plan with a graduated charge, a filtered charge,
a refused tier, editing and removing; the plan page shows charges as tables."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveApi, screenshot
from tests.browser.f2_helpers import accept_dialogs, sign_in_with_key

pytestmark = pytest.mark.browser


def test_taxes_are_created_edited_refused_and_deleted(page: Any, live: LiveApi) -> None:
    sign_in_with_key(page, live)
    accept_dialogs(page)
    page.click("text=Settings")
    page.click("#settings-nav >> text=Taxes")
    page.fill("#name", "VAT France")
    page.fill("#code", "vat_fr")
    page.fill("#rate", "20")
    page.click("#create-tax")
    assert "Tax VAT France created." in page.locator("#flash").inner_text()
    assert live.get("taxes/vat_fr").json()["tax"]["rate"] == 20.0

    # A rate above 100 % is refused in words; nothing is created.
    page.fill("#name", "Too much")
    page.fill("#code", "too_much")
    page.fill("#rate", "120")
    page.click("#create-tax")
    assert "Rate is not valid." in page.locator("#form-errors").inner_text()
    assert live.get("taxes/too_much").status_code == 404
    screenshot(page, "f2-taxes-refused")

    page.click("#taxes tr[data-code=vat_fr] >> text=Edit")
    page.fill("#rate", "5.5")
    page.click("#save-tax")
    assert live.get("taxes/vat_fr").json()["tax"]["rate"] == 5.5

    page.click("#taxes tr[data-code=vat_fr] >> text=Delete")
    page.wait_for_selector("#flash")
    assert live.get("taxes/vat_fr").status_code == 404


def test_a_plan_with_every_option_and_its_charges_as_tables(page: Any, live: LiveApi) -> None:
    assert live.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": "20"}}).is_success
    sign_in_with_key(page, live)
    accept_dialogs(page)
    page.goto(f"{live.base}/dashboard/plans")
    page.click("text=New plan")
    page.fill("#name", "Scale")
    page.fill("#code", "scale")
    page.fill("#amount", "49")
    page.fill("#trial_period", "14")
    page.check("input[name=taxes][value=vat]")
    page.fill("#minimum_commitment", "100")
    page.fill("#threshold0_amount", "500")
    page.select_option("#metric_code", "api_calls")
    page.select_option("#charge_model", "graduated")
    # The tier table shows for a tiered model; the single price field hides.
    assert page.locator("#tier0_to").is_visible()
    assert not page.locator("#unit_price").is_visible()
    page.fill("#tier0_to", "1000")
    page.fill("#tier0_per_unit", "0.01")
    page.fill("#tier1_per_unit", "0.005")
    page.fill("#tier1_flat", "2")
    screenshot(page, "f2-plan-form")
    page.click("#save-plan")
    page.wait_for_url("**/dashboard/plans/scale?message=*")

    plan = live.get("plans/scale").json()["plan"]
    # 49 USD = 4900 cents; the commitment 100 USD = 10000; the threshold 500 USD = 50000.
    assert plan["amount_cents"] == 4900
    assert plan["trial_period"] == 14.0
    assert [t["code"] for t in plan["taxes"]] == ["vat"]
    assert plan["minimum_commitment"]["amount_cents"] == 10000
    assert [t["amount_cents"] for t in plan["usage_thresholds"]] == [50000]
    # The second tier starts one unit above the first's bound, as Lago's editor sends it.
    assert plan["charges"][0]["properties"]["graduated_ranges"] == [
        {"from_value": 0, "to_value": 1000, "per_unit_amount": "0.01", "flat_amount": "0"},
        {"from_value": 1001, "to_value": None, "per_unit_amount": "0.005", "flat_amount": "2"},
    ]
    tiers = page.locator("#charge-api_calls table.tiers tbody tr")
    assert tiers.count() == 2
    assert tiers.nth(1).inner_text().split("\t")[:2] == ["1,001", "and above"]
    assert "0.005 USD" in tiers.nth(1).inner_text()
    assert "{" not in page.locator("#charge-api_calls").inner_text()  # no raw JSON

    # A percentage charge on storage with a price of its own for the EU region.
    page.click("#add-charge")
    page.select_option("#metric_code", "storage_gb")
    page.select_option("#charge_model", "percentage")
    page.fill("#rate", "2.5")
    page.fill("#fixed_amount", "0.1")
    page.click("text=Filter 1")
    page.fill("#filter0_key", "region")
    page.fill("#filter0_values", "eu")
    page.fill("#filter0_name", "Storage EU")
    page.fill("#filter0_rate", "3")
    page.check("#charge_pay_in_advance")
    page.click("#save-charge")
    page.wait_for_url("**/dashboard/plans/scale?message=*")
    storage = live.get("plans/scale").json()["plan"]["charges"][1]
    assert storage["charge_model"] == "percentage"
    assert storage["pay_in_advance"] is True
    assert storage["properties"] == {"rate": "2.5", "fixed_amount": "0.1"}
    assert storage["filters"][0]["values"] == {"region": ["eu"]}
    assert storage["filters"][0]["properties"] == {"rate": "3"}
    assert "region = eu" in page.locator("#charge-storage_gb table.filters").inner_text()
    screenshot(page, "f2-plan-page")

    # Bad input: a volume tier bound that is not a number. Refused in words, nothing added.
    page.click("#add-charge")
    page.select_option("#metric_code", "api_calls")
    page.select_option("#charge_model", "volume")
    page.fill("#tier0_to", "ten")
    page.fill("#tier0_per_unit", "1")
    page.fill("#tier1_per_unit", "0.5")
    page.click("#save-charge")
    errors = page.locator("#form-errors").inner_text()
    assert "needs tiers in increasing order" in errors
    assert "invalid_volume_ranges" not in errors
    assert page.locator("#tier0_to").input_value() == "ten"  # what was typed stays
    assert len(live.get("plans/scale").json()["plan"]["charges"]) == 2
    screenshot(page, "f2-charge-refused")

    # Edit the plan's terms, then remove the storage charge (confirmed).
    page.goto(f"{live.base}/dashboard/plans/scale/edit")
    page.fill("#name", "Scale 2024")
    page.fill("#amount", "59.90")
    page.click("#save-plan")
    page.wait_for_url("**/dashboard/plans/scale?message=*")
    plan = live.get("plans/scale").json()["plan"]
    assert (plan["name"], plan["amount_cents"]) == ("Scale 2024", 5990)
    page.click("#charge-storage_gb >> text=Remove")
    page.wait_for_selector("#flash")
    assert [c["code"] for c in live.get("plans/scale").json()["plan"]["charges"]] == ["api_calls"]


def test_a_charge_opens_filled_in_and_its_edit_is_saved(page: Any, live: LiveApi) -> None:
    sign_in_with_key(page, live)
    page.goto(f"{live.base}/dashboard/plans/startup")
    page.click("#charge-api_calls >> text=Edit")
    # The seeded ladder: 0-10 free, then 0.5 per unit plus a 1 flat fee (tests/e2e/test_portal).
    assert page.locator("#charge_model").input_value() == "graduated"
    assert page.locator("#tier0_to").input_value() == "10"
    assert page.locator("#tier1_per_unit").input_value() == "0.5"
    assert page.locator("#tier1_flat").input_value() == "1"
    page.select_option("#charge_model", "volume")
    page.fill("#tier1_per_unit", "0.4")
    page.fill("#min_amount", "3")
    page.click("#save-charge")
    page.wait_for_url("**/dashboard/plans/startup?message=*")
    charge = live.get("plans/startup").json()["plan"]["charges"][0]
    assert charge["charge_model"] == "volume"
    # Volume tiers follow on one unit above the bound: 0-10, then 11 and above.
    assert charge["properties"]["volume_ranges"] == [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "0.4", "flat_amount": "1"},
    ]
    assert charge["min_amount_cents"] == 300  # 3 USD
    assert charge["invoiceable"] is True
    assert "minimum 3.00 USD" in page.locator("#charge-api_calls").inner_text()
