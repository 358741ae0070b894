"""The unmodified lago-python-client against the real server: credits, discounts, taxes,
spend control.

Every client call of these areas, asserting on the values returned: taxes, add-ons,
coupons and applied coupons, one-off invoices, wallets (top-level and customer-scoped) and
wallet transactions with their ledger, credit notes (estimate, create, find, list,
refund status, download, void), subscription alerts, wallet alerts and lifetime usage;
bad input gets Lago's error and changes nothing. The server's clock is frozen at
2024-01-15T12:00:00Z.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    AddOn,
    Alert,
    AlertsList,
    AppliedCoupon,
    BillableMetric,
    Coupon,
    CreditNote,
    CreditNoteEstimate,
    CreditNoteUpdate,
    Customer,
    Invoice,
    OneOffInvoice,
    Plan,
    Subscription,
    Tax,
    Wallet,
    WalletTransaction,
)

from tests.compat.conftest import LagoServer

NOW = "2024-01-15T12:00:00Z"


@pytest.fixture(scope="module")
def lago_frozen_time() -> str:
    return NOW


def api_error(call: Any, *args: Any) -> LagoApiError:
    with pytest.raises(LagoApiError) as caught:
        call(*args)
    return caught.value


@dataclass
class Catalogue:
    vat_code: str  # 20 %
    city_code: str  # 8.5 %
    setup_code: str  # add-on, 50.00 USD, taxed with VAT only (add-on level)
    training_code: str  # add-on, 19.99 USD, no tax of its own
    customer_id: str  # USD customer, taxed with City tax (customer level)


@pytest.fixture(scope="module")
def catalogue(lago_server: LagoServer) -> Catalogue:
    client = lago_server.client
    unique = lago_server.unique
    vat = client.taxes.create(Tax.parse_obj({"name": "VAT", "code": unique("vat"), "rate": 20.0}))
    city = client.taxes.create(
        Tax.parse_obj({"name": "City tax", "code": unique("city"), "rate": 8.5})
    )
    setup = client.add_ons.create(
        AddOn.parse_obj(
            {
                "name": "Setup",
                "code": unique("setup"),
                "amount_cents": 5000,
                "amount_currency": "USD",
                "tax_codes": [vat.code],
            }
        )
    )
    training = client.add_ons.create(
        AddOn.parse_obj(
            {
                "name": "Training",
                "code": unique("training"),
                "amount_cents": 1999,
                "amount_currency": "USD",
            }
        )
    )
    customer = client.customers.create(
        Customer.parse_obj(
            {
                "external_id": unique("cust"),
                "name": "Credits customer",
                "currency": "USD",
                "tax_codes": [city.code],
            }
        )
    )
    return Catalogue(vat.code, city.code, setup.code, training.code, customer.external_id)


def new_customer(lago_server: LagoServer, currency: str = "USD", **extra: Any) -> str:
    customer = lago_server.client.customers.create(
        Customer.parse_obj(
            {"external_id": lago_server.unique("cust"), "currency": currency, **extra}
        )
    )
    return str(customer.external_id)


# --- taxes ----------------------------------------------------------------------------


def test_tax_create_find_update_find_all_destroy(lago_server: LagoServer) -> None:
    client = lago_server.client
    code = lago_server.unique("gst")
    created = client.taxes.create(
        Tax.parse_obj({"name": "GST", "code": code, "rate": 5.5, "description": "Goods"})
    )
    assert (created.name, created.code, created.rate, created.description) == (
        "GST",
        code,
        5.5,
        "Goods",
    )
    assert created.applied_to_organization is False
    assert created.created_at == NOW
    found = client.taxes.find(code)
    assert (found.lago_id, found.rate) == (created.lago_id, 5.5)
    updated = client.taxes.update(Tax.parse_obj({"rate": 7.25, "name": "GST 2"}), code)
    assert (updated.lago_id, updated.rate, updated.name, updated.code) == (
        created.lago_id,
        7.25,
        "GST 2",
        code,
    )
    listed = client.taxes.find_all({"per_page": 100})
    assert code in {t.code for t in listed["taxes"]}
    assert listed["meta"]["total_count"] >= 1
    destroyed = client.taxes.destroy(code)
    assert destroyed.code == code
    error = api_error(client.taxes.find, code)
    assert error.status_code == 404
    assert error.response["code"] == "tax_not_found"


def test_tax_errors_change_nothing(lago_server: LagoServer, catalogue: Catalogue) -> None:
    client = lago_server.client
    error = api_error(
        client.taxes.create,
        Tax.parse_obj({"name": "VAT again", "code": catalogue.vat_code, "rate": 1.0}),
    )
    assert error.status_code == 422
    assert error.response["error_details"]["code"] == ["value_already_exist"]
    assert client.taxes.find(catalogue.vat_code).rate == 20.0


# --- add-ons --------------------------------------------------------------------------


def test_add_on_create_find_update_find_all_destroy(
    lago_server: LagoServer, catalogue: Catalogue
) -> None:
    client = lago_server.client
    code = lago_server.unique("onboarding")
    created = client.add_ons.create(
        AddOn.parse_obj(
            {
                "name": "Onboarding",
                "invoice_display_name": "Onboarding fee",
                "code": code,
                "amount_cents": 12345,
                "amount_currency": "USD",
                "description": "One-time",
                "tax_codes": [catalogue.vat_code],
            }
        )
    )
    assert (created.name, created.invoice_display_name, created.code) == (
        "Onboarding",
        "Onboarding fee",
        code,
    )
    assert (created.amount_cents, created.amount_currency, created.description) == (
        12345,
        "USD",
        "One-time",
    )
    assert [t.code for t in created.taxes.__root__] == [catalogue.vat_code]
    assert client.add_ons.find(code).lago_id == created.lago_id
    updated = client.add_ons.update(AddOn.parse_obj({"amount_cents": 15000}), code)
    assert (updated.lago_id, updated.amount_cents, updated.name) == (
        created.lago_id,
        15000,
        "Onboarding",
    )
    listed = client.add_ons.find_all({"per_page": 100})
    assert code in {a.code for a in listed["add_ons"]}
    assert client.add_ons.destroy(code).code == code
    error = api_error(client.add_ons.find, code)
    assert (error.status_code, error.response["code"]) == (404, "add_on_not_found")


# --- coupons and applied coupons ------------------------------------------------------


def test_coupons_fixed_and_percentage(lago_server: LagoServer) -> None:
    client = lago_server.client
    fixed_code, pct_code = lago_server.unique("five_off"), lago_server.unique("ten_pct")
    fixed = client.coupons.create(
        Coupon.parse_obj(
            {
                "name": "Five off",
                "code": fixed_code,
                "coupon_type": "fixed_amount",
                "amount_cents": 500,
                "amount_currency": "USD",
                "frequency": "once",
                "expiration": "time_limit",
                "expiration_at": "2024-12-31T23:59:59Z",
            }
        )
    )
    assert (fixed.coupon_type, fixed.amount_cents, fixed.amount_currency) == (
        "fixed_amount",
        500,
        "USD",
    )
    assert (fixed.frequency, fixed.expiration, fixed.expiration_at) == (
        "once",
        "time_limit",
        "2024-12-31T23:59:59Z",
    )
    assert fixed.percentage_rate is None
    assert fixed.terminated_at is None
    pct = client.coupons.create(
        Coupon.parse_obj(
            {
                "name": "Ten percent",
                "code": pct_code,
                "coupon_type": "percentage",
                "percentage_rate": 10.0,
                "frequency": "recurring",
                "frequency_duration": 3,
                "expiration": "no_expiration",
                "reusable": False,
            }
        )
    )
    assert (pct.coupon_type, pct.percentage_rate, pct.amount_cents) == ("percentage", 10.0, None)
    assert (pct.frequency, pct.frequency_duration, pct.reusable) == ("recurring", 3, False)
    assert (pct.limited_plans, pct.limited_billable_metrics) == (False, False)

    found = client.coupons.find(fixed_code)
    assert (found.lago_id, found.name) == (fixed.lago_id, "Five off")
    updated = client.coupons.update(Coupon.parse_obj({"name": "Five dollars off"}), fixed_code)
    assert (updated.lago_id, updated.name, updated.amount_cents) == (
        fixed.lago_id,
        "Five dollars off",
        500,
    )
    codes = {c.code for c in client.coupons.find_all({"per_page": 100})["coupons"]}
    assert {fixed_code, pct_code} <= codes
    destroyed = client.coupons.destroy(pct_code)
    assert destroyed.code == pct_code
    assert destroyed.terminated_at == NOW


def test_applied_coupons_create_find_all_destroy(lago_server: LagoServer) -> None:
    client = lago_server.client
    code = lago_server.unique("twenty_off")
    coupon = client.coupons.create(
        Coupon.parse_obj(
            {
                "name": "Twenty off",
                "code": code,
                "coupon_type": "fixed_amount",
                "amount_cents": 2000,
                "amount_currency": "USD",
                "frequency": "once",
                "expiration": "no_expiration",
            }
        )
    )
    customer_id = new_customer(lago_server)
    applied = client.applied_coupons.create(
        AppliedCoupon.parse_obj(
            {"external_customer_id": customer_id, "coupon_code": code, "amount_cents": 1500}
        )
    )
    assert (applied.lago_coupon_id, applied.coupon_code, applied.external_customer_id) == (
        coupon.lago_id,
        code,
        customer_id,
    )
    assert (applied.status, applied.amount_cents, applied.amount_cents_remaining) == (
        "active",
        1500,
        1500,
    )
    assert (applied.amount_currency, applied.frequency) == ("USD", "once")
    listed = client.applied_coupons.find_all({"external_customer_id": customer_id})
    assert [a.lago_id for a in listed["applied_coupons"]] == [applied.lago_id]
    assert listed["meta"]["total_count"] == 1

    # DELETE customers/{external_customer_id}/applied_coupons/{id}
    removed = client.applied_coupons.destroy(customer_id, applied.lago_id)
    assert (removed.lago_id, removed.status, removed.terminated_at) == (
        applied.lago_id,
        "terminated",
        NOW,
    )
    active = client.applied_coupons.find_all(
        {"external_customer_id": customer_id, "status": "active"}
    )
    assert active["applied_coupons"] == []


def test_applied_coupon_errors_change_nothing(lago_server: LagoServer) -> None:
    client = lago_server.client
    customer_id = new_customer(lago_server)
    error = api_error(
        client.applied_coupons.create,
        AppliedCoupon.parse_obj(
            {"external_customer_id": customer_id, "coupon_code": lago_server.unique("nope")}
        ),
    )
    assert (error.status_code, error.response["code"]) == (404, "coupon_not_found")
    listed = client.applied_coupons.find_all({"external_customer_id": customer_id})
    assert listed["applied_coupons"] == []
    error = api_error(client.coupons.find, lago_server.unique("nope"))
    assert (error.status_code, error.response["code"]) == (404, "coupon_not_found")


# --- one-off invoices -----------------------------------------------------------------


def test_one_off_invoice_with_two_add_ons_and_taxes(
    lago_server: LagoServer, catalogue: Catalogue
) -> None:
    client = lago_server.client
    invoice = client.invoices.create(
        OneOffInvoice.parse_obj(
            {
                "external_customer_id": catalogue.customer_id,
                "currency": "USD",
                "fees": [
                    {"add_on_code": catalogue.setup_code, "units": 2},
                    {
                        "add_on_code": catalogue.training_code,
                        "unit_amount_cents": 1234,
                        "units": 3,
                        "description": "3 seats",
                        "tax_codes": [catalogue.vat_code, catalogue.city_code],
                    },
                ],
            }
        )
    )
    # Setup: 2 x 50.00 = 10000, the add-on's VAT (more specific than the customer's City
    # tax): 2000. Training: 3 x 12.34 = 3702, the fee's own taxes VAT + City = 28.5 %:
    # 740.4 + 314.67 = 1055.07 -> 1055.
    # Per tax: VAT 2000 + 740.4 = 2740.4 -> 2740; City 314.67 -> 315; taxes 3055.
    assert (invoice.invoice_type, invoice.status, invoice.payment_status) == (
        "one_off",
        "finalized",
        "pending",
    )
    assert (invoice.currency, invoice.issuing_date) == ("USD", "2024-01-15")
    fees = {fee.item.code: fee for fee in invoice.fees.__root__}
    setup, training = fees[catalogue.setup_code], fees[catalogue.training_code]
    assert (setup.item.type, setup.units, setup.amount_cents) == ("add_on", "2.0", 10000)
    assert (setup.taxes_amount_cents, setup.taxes_rate, setup.total_amount_cents) == (
        2000,
        20.0,
        12000,
    )
    assert (training.units, training.amount_cents, training.description) == (
        "3.0",
        3702,
        "3 seats",
    )
    assert (training.taxes_amount_cents, training.taxes_rate) == (1055, 28.5)
    assert invoice.fees_amount_cents == 13702
    taxes = {t.tax_code: t for t in invoice.applied_taxes.__root__}
    assert (
        taxes[catalogue.vat_code].amount_cents,
        taxes[catalogue.vat_code].fees_amount_cents,
    ) == (
        2740,
        13702,
    )
    assert (
        taxes[catalogue.city_code].amount_cents,
        taxes[catalogue.city_code].fees_amount_cents,
    ) == (315, 3702)
    assert invoice.taxes_amount_cents == 3055
    assert invoice.sub_total_excluding_taxes_amount_cents == 13702
    assert invoice.sub_total_including_taxes_amount_cents == 16757
    assert (invoice.total_amount_cents, invoice.total_due_amount_cents) == (16757, 16757)
    assert client.invoices.find(invoice.lago_id).total_amount_cents == 16757


def test_one_off_invoice_errors_change_nothing(
    lago_server: LagoServer, catalogue: Catalogue
) -> None:
    client = lago_server.client
    customer_id = new_customer(lago_server)
    error = api_error(
        client.invoices.create,
        OneOffInvoice.parse_obj(
            {
                "external_customer_id": customer_id,
                "currency": "USD",
                "fees": [{"add_on_code": lago_server.unique("nope")}],
            }
        ),
    )
    assert (error.status_code, error.response["code"]) == (404, "add_on_not_found")
    assert client.invoices.find_all({"external_customer_id": customer_id})["invoices"] == []


# --- wallets and wallet transactions --------------------------------------------------


def test_wallet_create_find_update_find_all_terminate(lago_server: LagoServer) -> None:
    client = lago_server.client
    customer_id = new_customer(lago_server)
    wallet = client.wallets.create(
        Wallet.parse_obj(
            {
                "external_customer_id": customer_id,
                "name": "Prepaid",
                "code": "main",
                "rate_amount": "1.5",
                "currency": "USD",
                "paid_credits": "20",
                "granted_credits": "10",
            }
        )
    )
    # 30 credits x 1.5 = 45.00 USD (paid credits settle when their invoice is finalized).
    assert (wallet.external_customer_id, wallet.status, wallet.currency) == (
        customer_id,
        "active",
        "USD",
    )
    assert (wallet.name, wallet.code, wallet.rate_amount, wallet.priority) == (
        "Prepaid",
        "main",
        "1.5",
        50,
    )
    assert (wallet.credits_balance, wallet.balance_cents, wallet.consumed_credits) == (
        "30.0",
        4500,
        "0.0",
    )
    assert (wallet.ongoing_balance_cents, wallet.credits_ongoing_balance) == (4500, "30.0")
    assert (wallet.ongoing_usage_balance_cents, wallet.credits_ongoing_usage_balance) == (
        0,
        "0.0",
    )
    assert wallet.created_at == NOW

    # The paid credits raised a credit invoice of 20 x 1.5 = 30.00 USD.
    invoices = client.invoices.find_all({"external_customer_id": customer_id})["invoices"]
    [credit_invoice] = invoices
    assert (credit_invoice.invoice_type, credit_invoice.total_amount_cents) == ("credit", 3000)

    transactions = client.wallet_transactions.find_all(wallet.lago_id)
    by_status = {t.transaction_status: t for t in transactions["wallet_transactions"]}
    assert set(by_status) == {"purchased", "granted"}
    assert (by_status["purchased"].amount, by_status["purchased"].credit_amount) == ("30.0", "20.0")
    assert by_status["purchased"].lago_invoice_id == credit_invoice.lago_id
    assert (by_status["granted"].amount, by_status["granted"].credit_amount) == ("15.0", "10.0")
    assert by_status["granted"].lago_invoice_id is None
    assert {t.transaction_type for t in by_status.values()} == {"inbound"}

    assert client.wallets.find(wallet.lago_id).balance_cents == 4500
    updated = client.wallets.update(
        Wallet.parse_obj({"name": "Prepaid credits", "priority": 5}), wallet.lago_id
    )
    assert (updated.lago_id, updated.name, updated.priority, updated.balance_cents) == (
        wallet.lago_id,
        "Prepaid credits",
        5,
        4500,
    )
    listed = client.wallets.find_all({"external_customer_id": customer_id})
    assert [w.lago_id for w in listed["wallets"]] == [wallet.lago_id]

    terminated = client.wallets.destroy(wallet.lago_id)
    assert (terminated.lago_id, terminated.status, terminated.terminated_at) == (
        wallet.lago_id,
        "terminated",
        NOW,
    )


def test_wallets_in_two_currencies_for_one_customer(lago_server: LagoServer) -> None:
    client = lago_server.client
    customer_id = new_customer(lago_server)
    client.wallets.create(
        Wallet.parse_obj(
            {
                "external_customer_id": customer_id,
                "name": "USD",
                "rate_amount": "1",
                "currency": "USD",
                "granted_credits": "1",
            }
        )
    )
    # Several currencies per customer (Lago, July 2026).
    client.wallets.create(
        Wallet.parse_obj(
            {
                "external_customer_id": customer_id,
                "name": "EUR",
                "code": "eur",
                "rate_amount": "1",
                "currency": "EUR",
                "granted_credits": "10",
            }
        )
    )
    listed = client.wallets.find_all({"external_customer_id": customer_id})
    assert sorted(w.currency for w in listed["wallets"]) == ["EUR", "USD"]


def test_wallet_transactions_top_up_void_and_ledger(lago_server: LagoServer) -> None:
    client = lago_server.client
    customer_id = new_customer(lago_server)
    wallet = client.wallets.create(
        Wallet.parse_obj(
            {
                "external_customer_id": customer_id,
                "name": "Prepaid",
                "rate_amount": "1.5",
                "currency": "USD",
                "granted_credits": "10",
            }
        )
    )
    [grant] = client.wallet_transactions.find_all(wallet.lago_id)["wallet_transactions"]

    created = client.wallet_transactions.create(
        WalletTransaction.parse_obj(
            {"wallet_id": wallet.lago_id, "paid_credits": "4", "granted_credits": "2"}
        )
    )
    # A list, one entry per part: purchased 4 credits (6.00 USD), granted 2 (3.00 USD).
    by_status = {t.transaction_status: t for t in created["wallet_transactions"]}
    assert set(by_status) == {"purchased", "granted"}
    assert (by_status["purchased"].amount, by_status["purchased"].credit_amount) == ("6.0", "4.0")
    assert (by_status["granted"].amount, by_status["granted"].credit_amount) == ("3.0", "2.0")
    for transaction in by_status.values():
        assert (transaction.lago_wallet_id, transaction.source) == (wallet.lago_id, "manual")
        assert (transaction.transaction_type, transaction.status) == ("inbound", "settled")
    assert by_status["purchased"].lago_invoice_id is not None

    [void] = client.wallet_transactions.create(
        WalletTransaction.parse_obj({"wallet_id": wallet.lago_id, "voided_credits": "1"})
    )["wallet_transactions"]
    assert (void.transaction_status, void.transaction_type) == ("voided", "outbound")
    assert (void.amount, void.credit_amount) == ("1.5", "1.0")

    # 10 + 4 + 2 - 1 = 15 credits = 22.50 USD.
    found = client.wallets.find(wallet.lago_id)
    assert (found.credits_balance, found.balance_cents) == ("15.0", 2250)
    listed = client.wallet_transactions.find_all(wallet.lago_id)
    assert listed["meta"]["total_count"] == 4
    assert {t.lago_id for t in listed["wallet_transactions"]} == {
        grant.lago_id,
        void.lago_id,
        *(t.lago_id for t in by_status.values()),
    }
    # The void was funded by the oldest top-up, the initial grant.
    [funding] = client.wallet_transactions.fundings(void.lago_id)["wallet_transaction_fundings"]
    assert (funding.amount_cents, funding.credit_amount) == (150, "1.0")
    assert funding.wallet_transaction.lago_id == grant.lago_id
    consumptions = client.wallet_transactions.consumptions(grant.lago_id)
    [consumption] = consumptions["wallet_transaction_consumptions"]
    assert (consumption.amount_cents, consumption.wallet_transaction.lago_id) == (
        150,
        void.lago_id,
    )
    # Consumptions are asked of inbound transactions, fundings of outbound ones.
    error = api_error(client.wallet_transactions.consumptions, void.lago_id)
    assert (error.status_code, error.response["code"]) == (405, "wallet_transaction_not_inbound")
    error = api_error(client.wallet_transactions.fundings, grant.lago_id)
    assert (error.status_code, error.response["code"]) == (405, "wallet_transaction_not_outbound")


def test_customer_scoped_wallets(lago_server: LagoServer) -> None:
    client = lago_server.client
    customer_id = new_customer(lago_server)
    wallet = client.customers.wallets.create(
        customer_id,
        Wallet.parse_obj(
            {
                "name": "Scoped",
                "code": "scoped",
                "rate_amount": "1",
                "currency": "USD",
                "granted_credits": "50",
            }
        ),
    )
    assert (wallet.external_customer_id, wallet.code, wallet.balance_cents) == (
        customer_id,
        "scoped",
        5000,
    )
    found = client.customers.wallets.find(customer_id, "scoped")
    assert found.lago_id == wallet.lago_id
    updated = client.customers.wallets.update(
        customer_id, "scoped", Wallet.parse_obj({"name": "Scoped 2", "priority": 3})
    )
    assert (updated.lago_id, updated.name, updated.priority) == (wallet.lago_id, "Scoped 2", 3)
    listed = client.customers.wallets.find_all(customer_id)
    assert [w.lago_id for w in listed["wallets"]] == [wallet.lago_id]
    terminated = client.customers.wallets.destroy(customer_id, "scoped")
    assert (terminated.lago_id, terminated.status) == (wallet.lago_id, "terminated")


def test_wallet_alerts(lago_server: LagoServer) -> None:
    client = lago_server.client
    customer_id = new_customer(lago_server)
    client.customers.wallets.create(
        customer_id,
        Wallet.parse_obj(
            {
                "name": "W",
                "code": "w",
                "rate_amount": "1",
                "currency": "USD",
                "granted_credits": "50",
            }
        ),
    )
    alert = client.customers.wallets.alerts.create(
        customer_id,
        "w",
        Alert.parse_obj(
            {
                "alert_type": "wallet_balance_amount",
                "code": "low",
                "thresholds": [{"value": "1000"}],
            }
        ),
    )
    assert (alert.alert_type, alert.code, alert.wallet_code) == (
        "wallet_balance_amount",
        "low",
        "w",
    )
    assert client.customers.wallets.alerts.find(customer_id, "w", "low").lago_id == alert.lago_id
    updated = client.customers.wallets.alerts.update(
        customer_id, "w", "low", Alert.parse_obj({"thresholds": [{"value": "500"}]})
    )
    assert [t.value for t in updated.thresholds.__root__] == ["500"]
    listed = client.customers.wallets.alerts.find_all(customer_id, "w")
    assert [a.code for a in listed["alerts"]] == ["low"]
    assert client.customers.wallets.alerts.destroy(customer_id, "w", "low").code == "low"


# --- credit notes ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def credited_invoice(lago_server: LagoServer, catalogue: Catalogue) -> Any:
    """A finalized one-off invoice: one Training fee of 100.00 USD, City tax 8.5 %."""
    return lago_server.client.invoices.create(
        OneOffInvoice.parse_obj(
            {
                "external_customer_id": catalogue.customer_id,
                "currency": "USD",
                "fees": [{"add_on_code": catalogue.training_code, "unit_amount_cents": 10000}],
            }
        )
    )


def test_credit_note_estimate(lago_server: LagoServer, credited_invoice: Any) -> None:
    client = lago_server.client
    [fee] = credited_invoice.fees.__root__
    assert (fee.amount_cents, fee.taxes_amount_cents) == (10000, 850)
    assert credited_invoice.total_amount_cents == 10850
    estimate = client.credit_notes.estimate(
        CreditNoteEstimate.parse_obj(
            {
                "invoice_id": credited_invoice.lago_id,
                "items": [{"fee_id": fee.lago_id, "amount_cents": 2500}],
            }
        )
    )
    # 2500 + 8.5 % = 212.5 -> 213 (half up): 2713, creditable or offsettable on the unpaid
    # invoice, not refundable (nothing was paid).
    assert (estimate.lago_invoice_id, estimate.invoice_number, estimate.currency) == (
        credited_invoice.lago_id,
        credited_invoice.number,
        "USD",
    )
    assert estimate.sub_total_excluding_taxes_amount_cents == 2500
    assert (estimate.taxes_amount_cents, estimate.taxes_rate) == (213, 8.5)
    assert estimate.coupons_adjustment_amount_cents == 0
    assert estimate.max_creditable_amount_cents == 2713
    assert estimate.max_refundable_amount_cents == 0
    assert estimate.max_offsettable_amount_cents == 2713
    [item] = estimate.items.__root__
    assert (item.lago_fee_id, item.amount_cents) == (fee.lago_id, 2500)
    [tax] = estimate.applied_taxes.__root__
    assert (tax.tax_rate, tax.amount_cents, tax.base_amount_cents) == (8.5, 213, 2500)


def test_credit_note_lifecycle(lago_server: LagoServer, credited_invoice: Any) -> None:
    client = lago_server.client
    [fee] = credited_invoice.fees.__root__
    note = client.credit_notes.create(
        CreditNote.parse_obj(
            {
                "invoice_id": credited_invoice.lago_id,
                "reason": "product_unsatisfactory",
                "description": "Partial credit",
                "credit_amount_cents": 2713,
                "items": [{"fee_id": fee.lago_id, "amount_cents": 2500}],
            }
        )
    )
    assert (note.lago_invoice_id, note.invoice_number) == (
        credited_invoice.lago_id,
        credited_invoice.number,
    )
    assert (note.reason, note.credit_status, note.refund_status) == (
        "product_unsatisfactory",
        "available",
        None,
    )
    assert (note.total_amount_cents, note.credit_amount_cents, note.balance_amount_cents) == (
        2713,
        2713,
        2713,
    )
    assert (note.refund_amount_cents, note.offset_amount_cents) == (0, 0)
    assert (note.sub_total_excluding_taxes_amount_cents, note.taxes_amount_cents) == (2500, 213)
    [item] = note.items.__root__
    assert (item.amount_cents, item.fee.lago_id) == (2500, fee.lago_id)

    assert client.credit_notes.find(note.lago_id).total_amount_cents == 2713
    listed = client.credit_notes.find_all(
        {"external_customer_id": credited_invoice.customer.external_id}
    )
    assert note.lago_id in {n.lago_id for n in listed["credit_notes"]}

    downloaded = client.credit_notes.download(note.lago_id)
    if downloaded is not None:
        assert downloaded.lago_id == note.lago_id
        file_url = downloaded.file_url or client.credit_notes.find(note.lago_id).file_url
        assert file_url
        assert httpx.get(file_url, timeout=10).content.startswith(b"%PDF")

    # More than is left on the fee (10000 - 2500 = 7500): refused, nothing changes.
    error = api_error(
        client.credit_notes.create,
        CreditNote.parse_obj(
            {
                "invoice_id": credited_invoice.lago_id,
                "reason": "other",
                "credit_amount_cents": 8680,
                "items": [{"fee_id": fee.lago_id, "amount_cents": 8000}],
            }
        ),
    )
    assert error.status_code == 422
    assert error.response["error_details"] == {"amount_cents": ["higher_than_remaining_fee_amount"]}
    estimate = client.credit_notes.estimate(
        CreditNoteEstimate.parse_obj(
            {
                "invoice_id": credited_invoice.lago_id,
                "items": [{"fee_id": fee.lago_id, "amount_cents": 7500}],
            }
        )
    )
    # It credits everything left, so it subtracts the first note's tax rounding
    # (213 - 212.5 = 0.5): 637.5 - 0.5 = 637.0 -> 637, and 7500 + 637 = 8137, exactly the
    # 10850 - 2713 left of the invoice (lago-semantics.md item 14, credit-note taxes).
    assert estimate.taxes_amount_cents == 637
    assert estimate.max_creditable_amount_cents == 8137

    voided = client.credit_notes.void(note.lago_id)
    assert (voided.lago_id, voided.credit_status, voided.balance_amount_cents) == (
        note.lago_id,
        "voided",
        0,
    )


def test_credit_note_refund_status(lago_server: LagoServer, catalogue: Catalogue) -> None:
    client = lago_server.client
    invoice = client.invoices.create(
        OneOffInvoice.parse_obj(
            {
                "external_customer_id": catalogue.customer_id,
                "currency": "USD",
                "fees": [{"add_on_code": catalogue.training_code, "unit_amount_cents": 2000}],
            }
        )
    )
    [fee] = invoice.fees.__root__
    # A refund needs a paid invoice: refused on the pending one.
    error = api_error(
        client.credit_notes.create,
        CreditNote.parse_obj(
            {
                "invoice_id": invoice.lago_id,
                "reason": "other",
                "refund_amount_cents": 1085,
                "items": [{"fee_id": fee.lago_id, "amount_cents": 1000}],
            }
        ),
    )
    assert error.status_code == 422
    assert "refund_amount_cents" in error.response["error_details"]
    listed = client.credit_notes.find_all({"external_customer_id": catalogue.customer_id})
    assert [n for n in listed["credit_notes"] if n.lago_invoice_id == invoice.lago_id] == []

    client.invoices.update(Invoice.parse_obj({"payment_status": "succeeded"}), invoice.lago_id)
    estimate = client.credit_notes.estimate(
        CreditNoteEstimate.parse_obj(
            {
                "invoice_id": invoice.lago_id,
                "items": [{"fee_id": fee.lago_id, "amount_cents": 1000}],
            }
        )
    )
    # 1000 + 85 = 1085; on a paid invoice refundable, no longer offsettable.
    assert (estimate.max_creditable_amount_cents, estimate.max_refundable_amount_cents) == (
        1085,
        1085,
    )
    assert estimate.max_offsettable_amount_cents == 0
    note = client.credit_notes.create(
        CreditNote.parse_obj(
            {
                "invoice_id": invoice.lago_id,
                "reason": "duplicated_charge",
                "refund_amount_cents": 1085,
                "items": [{"fee_id": fee.lago_id, "amount_cents": 1000}],
            }
        )
    )
    assert (note.refund_amount_cents, note.credit_amount_cents, note.refund_status) == (
        1085,
        0,
        "pending",
    )
    updated = client.credit_notes.update(
        CreditNoteUpdate.parse_obj({"refund_status": "succeeded"}), note.lago_id
    )
    assert (updated.lago_id, updated.refund_status) == (note.lago_id, "succeeded")
    error = api_error(
        client.credit_notes.update,
        CreditNoteUpdate.parse_obj({"refund_status": "maybe"}),
        note.lago_id,
    )
    assert error.status_code == 422
    assert client.credit_notes.find(note.lago_id).refund_status == "succeeded"


# --- subscription alerts and lifetime usage -------------------------------------------


@dataclass
class Metered:
    subscription_id: str
    calls_code: str


@pytest.fixture(scope="module")
def metered(lago_server: LagoServer) -> Metered:
    client = lago_server.client
    unique = lago_server.unique
    calls = client.billable_metrics.create(
        BillableMetric.parse_obj(
            {"name": "Calls", "code": unique("calls"), "aggregation_type": "count_agg"}
        )
    )
    plan = client.plans.create(
        Plan.parse_obj(
            {
                "name": "Thresholds",
                "code": unique("thresholds"),
                "interval": "monthly",
                "amount_cents": 1000,
                "amount_currency": "USD",
                "usage_thresholds": [
                    {"threshold_display_name": "First", "amount_cents": 50000, "recurring": False}
                ],
                "charges": [
                    {
                        "billable_metric_id": calls.lago_id,
                        "code": "calls",
                        "charge_model": "standard",
                        "properties": {"amount": "0.10"},
                    }
                ],
            }
        )
    )
    subscription = client.subscriptions.create(
        Subscription.parse_obj(
            {
                "external_customer_id": new_customer(lago_server),
                "plan_code": plan.code,
                "external_id": unique("sub"),
                "billing_time": "calendar",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        )
    )
    return Metered(subscription_id=subscription.external_id, calls_code=calls.code)


def test_lifetime_usage_find_and_update(lago_server: LagoServer, metered: Metered) -> None:
    client = lago_server.client
    usage = client.subscriptions.lifetime_usage(metered.subscription_id)
    assert usage.external_subscription_id == metered.subscription_id
    assert (usage.external_historical_usage_amount_cents, usage.invoiced_usage_amount_cents) == (
        0,
        0,
    )
    assert usage.current_usage_amount_cents == 0
    assert usage.from_datetime == "2024-01-01T00:00:00Z"
    [threshold] = usage.usage_thresholds
    assert (threshold.amount_cents, threshold.completion_ratio, threshold.reached_at) == (
        50000,
        0.0,
        None,
    )
    updated = client.subscriptions.update_lifetime_usage(metered.subscription_id, 1234)
    assert (updated.lago_id, updated.external_historical_usage_amount_cents) == (
        usage.lago_id,
        1234,
    )
    # 1234 / 50000 = 0.02468 -> Lago rounds the ratio to 4 places.
    [threshold] = updated.usage_thresholds
    assert threshold.completion_ratio == pytest.approx(0.0247)
    assert (
        client.subscriptions.lifetime_usage(
            metered.subscription_id
        ).external_historical_usage_amount_cents
        == 1234
    )
    error = api_error(client.subscriptions.lifetime_usage, lago_server.unique("nope"))
    assert error.status_code == 404


def test_subscription_alerts_create_and_delete(lago_server: LagoServer, metered: Metered) -> None:
    client = lago_server.client
    created = client.subscriptions.create_alerts(
        metered.subscription_id,
        AlertsList.parse_obj(
            {
                "alerts": [
                    {
                        "alert_type": "current_usage_amount",
                        "code": "spend",
                        "name": "Spend",
                        "thresholds": [
                            {"code": "warn", "value": "1000"},
                            {"value": "5000", "recurring": True},
                        ],
                    },
                    {
                        "alert_type": "lifetime_usage_amount",
                        "code": "lifetime",
                        "thresholds": [{"value": "100000"}],
                    },
                ]
            }
        ),
    )
    alerts = {a.code: a for a in created["alerts"]}
    assert set(alerts) == {"spend", "lifetime"}
    spend = alerts["spend"]
    assert (spend.alert_type, spend.name, spend.external_subscription_id) == (
        "current_usage_amount",
        "Spend",
        metered.subscription_id,
    )
    assert [(t.code, t.value, t.recurring) for t in spend.thresholds.__root__] == [
        ("warn", "1000", False),
        (None, "5000", True),
    ]
    assert spend.created_at == NOW
    assert alerts["lifetime"].alert_type == "lifetime_usage_amount"

    # Bad input (duplicate code, overlapping thresholds) is refused and changes nothing.
    error = api_error(
        client.subscriptions.create_alerts,
        metered.subscription_id,
        AlertsList.parse_obj(
            {
                "alerts": [
                    {
                        "alert_type": "current_usage_amount",
                        "code": "spend",
                        "thresholds": [{"value": "1"}],
                    }
                ]
            }
        ),
    )
    assert error.status_code == 422
    assert error.response["error_details"] == {"code": ["value_already_exist"]}
    error = api_error(
        client.subscriptions.create_alerts,
        metered.subscription_id,
        AlertsList.parse_obj(
            {
                "alerts": [
                    {
                        "alert_type": "current_usage_amount",
                        "code": "dupes",
                        "thresholds": [{"value": "1000"}, {"value": "1000"}],
                    }
                ]
            }
        ),
    )
    assert error.status_code == 422
    assert error.response["error_details"] == {"thresholds": ["duplicated_values"]}

    assert client.subscriptions.delete_alerts(metered.subscription_id) is None
    # Gone: they can be created again under the same codes.
    again = client.subscriptions.create_alerts(
        metered.subscription_id,
        AlertsList.parse_obj(
            {
                "alerts": [
                    {
                        "alert_type": "current_usage_amount",
                        "code": "spend",
                        "thresholds": [{"value": "2000"}],
                    }
                ]
            }
        ),
    )
    assert [a.code for a in again["alerts"]] == ["spend"]
    client.subscriptions.delete_alerts(metered.subscription_id)


def test_billable_metric_alert(lago_server: LagoServer, metered: Metered) -> None:
    client = lago_server.client
    try:
        created = client.subscriptions.create_alerts(
            metered.subscription_id,
            AlertsList.parse_obj(
                {
                    "alerts": [
                        {
                            "alert_type": "billable_metric_current_usage_units",
                            "code": "calls_units",
                            "billable_metric_code": metered.calls_code,
                            "thresholds": [{"value": "10"}],
                        }
                    ]
                }
            ),
        )
        [alert] = created["alerts"]
        assert alert.billable_metric.code == metered.calls_code
    finally:
        client.subscriptions.delete_alerts(metered.subscription_id)
