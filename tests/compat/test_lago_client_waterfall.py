"""The unmodified lago-python-client against the real server: Lago's invoice waterfall.

Issue 5's "done when": one invoice that carries a subscription fee, usage, a coupon, two
taxes, a credit note and prepaid credits, built through the client only (plus one
`meterly bill` run), must come out exactly as Lago's waterfall computes it
(`lago-semantics.md` item 12 and "Rounding and money"):

    fees -> coupons (pro rata over the fees, before tax) -> taxes per fee, summed per tax
    and rounded once -> credit notes -> prepaid credits on the tax-inclusive total.

The server's clock is frozen at 2024-01-15T12:00:00Z; subscriptions start on 2024-01-01
(calendar billing, in arrears) and January is billed by `meterly bill --as-of
2024-02-01T01:00:00Z`. A second customer repeats the scenario in JPY (zero decimals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from lago_python_client.models import (
    AddOn,
    AppliedCoupon,
    BatchEvent,
    BillableMetric,
    Coupon,
    CreditNote,
    Customer,
    OneOffInvoice,
    Plan,
    Subscription,
    Tax,
    Wallet,
)

from tests.compat.conftest import LagoServer

CALLS = 37


@pytest.fixture(scope="module")
def lago_frozen_time() -> str:
    return "2024-01-15T12:00:00Z"


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).timestamp())


@dataclass
class Scenario:
    customer_id: str
    subscription_id: str
    vat_code: str
    vat_id: str
    city_code: str
    city_id: str
    coupon_code: str
    coupon_name: str
    coupon_id: str
    applied_coupon_id: str
    wallet_id: str
    credit_note_id: str | None
    credit_note_number: str | None
    earlier_invoice_number: str | None
    calls_code: str


@dataclass
class Waterfall:
    usd: Scenario
    jpy: Scenario


def build(lago_server: LagoServer, currency: str, *, with_credit_note: bool) -> Scenario:
    """Catalogue, customer, subscription, coupon, wallet, usage (and a credit note)."""
    client = lago_server.client
    unique = lago_server.unique
    usd = currency == "USD"
    calls = client.billable_metrics.create(
        BillableMetric.parse_obj(
            {"name": "API calls", "code": unique("calls"), "aggregation_type": "count_agg"}
        )
    )
    vat = client.taxes.create(Tax.parse_obj({"name": "VAT", "code": unique("vat"), "rate": 20.0}))
    city = client.taxes.create(
        Tax.parse_obj({"name": "City tax", "code": unique("city"), "rate": 8.5})
    )
    plan = client.plans.create(
        Plan.parse_obj(
            {
                "name": f"Metered {currency}",
                "code": unique("metered"),
                "interval": "monthly",
                # 100.00 USD, or 1000 JPY (JPY has no subunit: amount_cents are yen).
                "amount_cents": 10000 if usd else 1000,
                "amount_currency": currency,
                "pay_in_advance": False,
                "charges": [
                    {
                        "billable_metric_id": calls.lago_id,
                        "code": "calls",
                        "charge_model": "standard",
                        "properties": {"amount": "0.1234" if usd else "12.34"},
                    }
                ],
            }
        )
    )
    customer = client.customers.create(
        Customer.parse_obj(
            {
                "external_id": unique(f"waterfall_{currency.lower()}"),
                "name": f"Waterfall {currency}",
                "currency": currency,
                "tax_codes": [vat.code, city.code],
            }
        )
    )
    subscription = client.subscriptions.create(
        Subscription.parse_obj(
            {
                "external_customer_id": customer.external_id,
                "plan_code": plan.code,
                "external_id": unique("sub"),
                "billing_time": "calendar",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        )
    )
    assert subscription.status == "active"

    credit_note_id = credit_note_number = earlier_number = None
    if with_credit_note:
        # An earlier invoice (one-off, 50.00 USD add-on, both customer taxes: 5000 + 1000
        # + 425 = 6425), credited for 20.00 of its fee: 2000 + 20 % 400 + 8.5 % 170 = 2570.
        setup = client.add_ons.create(
            AddOn.parse_obj(
                {
                    "name": "Setup",
                    "code": unique("setup"),
                    "amount_cents": 5000,
                    "amount_currency": currency,
                }
            )
        )
        earlier = client.invoices.create(
            OneOffInvoice.parse_obj(
                {
                    "external_customer_id": customer.external_id,
                    "currency": currency,
                    "fees": [{"add_on_code": setup.code}],
                }
            )
        )
        assert (earlier.fees_amount_cents, earlier.taxes_amount_cents) == (5000, 1425)
        assert earlier.total_amount_cents == 6425
        [setup_fee] = earlier.fees.__root__
        credit_note = client.credit_notes.create(
            CreditNote.parse_obj(
                {
                    "invoice_id": earlier.lago_id,
                    "reason": "order_change",
                    "credit_amount_cents": 2570,
                    "items": [{"fee_id": setup_fee.lago_id, "amount_cents": 2000}],
                }
            )
        )
        assert (credit_note.total_amount_cents, credit_note.taxes_amount_cents) == (2570, 570)
        assert (credit_note.credit_status, credit_note.balance_amount_cents) == ("available", 2570)
        credit_note_id, credit_note_number = credit_note.lago_id, credit_note.number
        earlier_number = earlier.number

    coupon = client.coupons.create(
        Coupon.parse_obj(
            {
                "name": "Spring 12.5 %",
                "code": unique("spring"),
                "coupon_type": "percentage",
                "percentage_rate": 12.5,
                "frequency": "once",
                "expiration": "no_expiration",
            }
        )
    )
    applied = client.applied_coupons.create(
        AppliedCoupon.parse_obj(
            {"external_customer_id": customer.external_id, "coupon_code": coupon.code}
        )
    )
    # 20 granted credits: 30.00 USD at 1.5 per credit; 500 JPY at rate 1.
    wallet = client.wallets.create(
        Wallet.parse_obj(
            {
                "external_customer_id": customer.external_id,
                "name": "Prepaid",
                "code": unique("prepaid"),
                "rate_amount": "1.5" if usd else "1",
                "currency": currency,
                "granted_credits": "20" if usd else "500",
            }
        )
    )
    assert wallet.balance_cents == (3000 if usd else 500)

    start = epoch("2024-01-05T10:00:00Z")
    prefix = unique("tx")
    client.events.batch_create(
        BatchEvent.parse_obj(
            {
                "events": [
                    {
                        "transaction_id": f"{prefix}_{n}",
                        "external_subscription_id": subscription.external_id,
                        "code": calls.code,
                        "timestamp": start + n,
                    }
                    for n in range(CALLS)
                ]
            }
        )
    )
    return Scenario(
        customer_id=customer.external_id,
        subscription_id=subscription.external_id,
        vat_code=vat.code,
        vat_id=vat.lago_id,
        city_code=city.code,
        city_id=city.lago_id,
        coupon_code=coupon.code,
        coupon_name=coupon.name,
        coupon_id=coupon.lago_id,
        applied_coupon_id=applied.lago_id,
        wallet_id=wallet.lago_id,
        credit_note_id=credit_note_id,
        credit_note_number=credit_note_number,
        earlier_invoice_number=earlier_number,
        calls_code=calls.code,
    )


@pytest.fixture(scope="module")
def waterfall(lago_server: LagoServer) -> Waterfall:
    usd = build(lago_server, "USD", with_credit_note=True)
    jpy = build(lago_server, "JPY", with_credit_note=False)
    lago_server.meterly("bill", "--as-of", "2024-02-01T01:00:00Z")
    return Waterfall(usd=usd, jpy=jpy)


def subscription_invoice(lago_server: LagoServer, scenario: Scenario) -> Any:
    listed = lago_server.client.invoices.find_all({"external_customer_id": scenario.customer_id})
    found = [i for i in listed["invoices"] if i.invoice_type == "subscription"]
    assert len(found) == 1, [(i.invoice_type, i.number) for i in listed["invoices"]]
    return lago_server.client.invoices.find(found[0].lago_id)


def fees_by_type(invoice: Any) -> dict[str, Any]:
    fees = invoice.fees.__root__
    by_type = {fee.item.type: fee for fee in fees}
    assert len(by_type) == len(fees) == 2, [fee.item for fee in fees]
    return by_type


def taxes_by_code(invoice: Any) -> dict[str, Any]:
    return {tax.tax_code: tax for tax in invoice.applied_taxes.__root__}


def credits_by_type(invoice: Any) -> dict[str, Any]:
    credits = invoice.credits.__root__
    by_type = {credit.item.type: credit for credit in credits}
    assert len(by_type) == len(credits), credits
    return by_type


# --- USD: the full waterfall ----------------------------------------------------------
#
# Fees: subscription 10000 (full January, in arrears); usage 37 x 0.1234 = 4.5658 USD
#   -> round(2) 4.57 -> 457.                                   fees_amount = 10457
# Coupon 12.5 %: round(10457 x 0.125 = 1307.125) = 1307, spread pro rata:
#   subscription 1307 x 10000 / 10457 = 1249.88046 (numeric(30,5))
#   usage        1307 x   457 / 10457 =   57.11954
#   sub_total_excluding_taxes = 10457 - 1307 = 9150
# Taxes per fee on (amount - precise coupons), summed per tax and rounded once:
#   VAT 20 %:  (10000 - 1249.88046) x 0.2 = 1750.02391 + (457 - 57.11954) x 0.2 = 79.97609
#              = 1830.00000 -> 1830
#   City 8.5 %: 8750.11954 x 0.085 = 743.76016 + 399.88046 x 0.085 = 33.98984
#              = 777.75000 -> 778 (half up)
#   taxes = 2608; sub_total_including_taxes = 9150 + 2608 = 11758
# Credit note (earlier invoice, 2570 incl. taxes) -> 11758 - 2570 = 9188
# Prepaid credits: 20 credits x 1.5 = 3000 (the whole wallet) -> total 6188, all due.
# Per fee: subscription taxes 1750.02391 + 743.76016 = 2493.78407 -> 2494;
#          usage 79.97609 + 33.98984 = 113.96593 -> 114.


def test_usd_invoice_totals_follow_lagos_waterfall(
    lago_server: LagoServer, waterfall: Waterfall
) -> None:
    invoice = subscription_invoice(lago_server, waterfall.usd)
    assert (invoice.status, invoice.payment_status, invoice.currency) == (
        "finalized",
        "pending",
        "USD",
    )
    assert invoice.issuing_date == "2024-02-01"
    [period] = invoice.billing_periods.__root__
    assert period.external_subscription_id == waterfall.usd.subscription_id
    assert period.invoicing_reason == "subscription_periodic"
    assert invoice.fees_amount_cents == 10457
    assert invoice.coupons_amount_cents == 1307
    assert invoice.progressive_billing_credit_amount_cents == 0
    assert invoice.sub_total_excluding_taxes_amount_cents == 9150
    assert invoice.taxes_amount_cents == 2608
    assert invoice.sub_total_including_taxes_amount_cents == 11758
    assert invoice.credit_notes_amount_cents == 2570
    assert invoice.prepaid_credit_amount_cents == 3000
    assert invoice.prepaid_granted_credit_amount_cents == 3000
    assert invoice.prepaid_purchased_credit_amount_cents == 0
    assert invoice.total_amount_cents == 6188
    assert invoice.total_due_amount_cents == 6188
    assert invoice.total_paid_amount_cents == 0


def test_usd_fees_carry_their_coupon_share_and_taxes(
    lago_server: LagoServer, waterfall: Waterfall
) -> None:
    fees = fees_by_type(subscription_invoice(lago_server, waterfall.usd))
    subscription, usage = fees["subscription"], fees["charge"]
    assert subscription.amount_cents == 10000
    assert Decimal(subscription.precise_coupons_amount_cents) == Decimal("1249.88046")
    assert subscription.taxes_amount_cents == 2494
    assert subscription.taxes_rate == 28.5
    assert (usage.amount_cents, usage.units, usage.events_count) == (457, "37.0", 37)
    assert usage.item.code == waterfall.usd.calls_code
    assert Decimal(usage.precise_coupons_amount_cents) == Decimal("57.11954")
    assert usage.taxes_amount_cents == 114
    # The coupon shares add up to the coupon exactly.
    shares = Decimal(subscription.precise_coupons_amount_cents) + Decimal(
        usage.precise_coupons_amount_cents
    )
    assert shares == Decimal(1307)


def test_usd_applied_taxes_are_summed_per_tax_then_rounded(
    lago_server: LagoServer, waterfall: Waterfall
) -> None:
    taxes = taxes_by_code(subscription_invoice(lago_server, waterfall.usd))
    assert set(taxes) == {waterfall.usd.vat_code, waterfall.usd.city_code}
    vat, city = taxes[waterfall.usd.vat_code], taxes[waterfall.usd.city_code]
    assert (vat.tax_name, vat.tax_rate, vat.amount_cents) == ("VAT", 20.0, 1830)
    assert (city.tax_name, city.tax_rate, city.amount_cents) == ("City tax", 8.5, 778)
    # The taxed base is the subtotal after the coupon.
    assert vat.fees_amount_cents == city.fees_amount_cents == 9150
    assert vat.amount_currency == city.amount_currency == "USD"


def test_usd_applied_taxes_reference_their_tax(
    lago_server: LagoServer, waterfall: Waterfall
) -> None:
    taxes = taxes_by_code(subscription_invoice(lago_server, waterfall.usd))
    assert taxes[waterfall.usd.vat_code].lago_tax_id == waterfall.usd.vat_id
    assert taxes[waterfall.usd.city_code].lago_tax_id == waterfall.usd.city_id


def test_usd_credits_list_the_coupon_before_taxes_and_the_credit_note_after(
    lago_server: LagoServer, waterfall: Waterfall
) -> None:
    invoice = subscription_invoice(lago_server, waterfall.usd)
    credits = credits_by_type(invoice)
    # Prepaid credits are not credits[] entries (they are prepaid_credit_amount_cents).
    assert set(credits) == {"coupon", "credit_note"}
    coupon, credit_note = credits["coupon"], credits["credit_note"]
    assert (coupon.amount_cents, coupon.amount_currency, coupon.before_taxes) == (
        1307,
        "USD",
        True,
    )
    # Lago's credit item is the coupon itself (its id, code and name).
    assert coupon.item.lago_item_id == waterfall.usd.coupon_id
    assert coupon.item.code == waterfall.usd.coupon_code
    assert (credit_note.amount_cents, credit_note.before_taxes) == (2570, False)
    assert credit_note.item.lago_item_id == waterfall.usd.credit_note_id
    for credit in (coupon, credit_note):
        assert credit.invoice.lago_id == invoice.lago_id
        assert credit.invoice.payment_status == "pending"


def test_usd_credit_items_name_their_coupon_and_credit_note(
    lago_server: LagoServer, waterfall: Waterfall
) -> None:
    credits = credits_by_type(subscription_invoice(lago_server, waterfall.usd))
    assert credits["coupon"].item.name == waterfall.usd.coupon_name
    assert credits["credit_note"].item.code == waterfall.usd.credit_note_number
    assert credits["credit_note"].item.name == waterfall.usd.earlier_invoice_number


def test_usd_credit_note_and_wallet_are_consumed(
    lago_server: LagoServer, waterfall: Waterfall
) -> None:
    client = lago_server.client
    invoice = subscription_invoice(lago_server, waterfall.usd)
    assert waterfall.usd.credit_note_id is not None
    credit_note = client.credit_notes.find(waterfall.usd.credit_note_id)
    assert (credit_note.credit_status, credit_note.balance_amount_cents) == ("consumed", 0)
    assert credit_note.credit_amount_cents == 2570

    wallet = client.wallets.find(waterfall.usd.wallet_id)
    assert (wallet.balance_cents, wallet.credits_balance) == (0, "0.0")
    assert wallet.consumed_credits == "20.0"

    listed = client.wallet_transactions.find_all(waterfall.usd.wallet_id)
    by_status = {t.transaction_status: t for t in listed["wallet_transactions"]}
    assert set(by_status) == {"granted", "invoiced"}
    invoiced, granted = by_status["invoiced"], by_status["granted"]
    assert (invoiced.transaction_type, invoiced.status) == ("outbound", "settled")
    assert (invoiced.amount, invoiced.credit_amount) == ("30.0", "20.0")
    assert invoiced.lago_invoice_id == invoice.lago_id
    assert (granted.remaining_amount_cents, granted.remaining_credit_amount) == (0, "0.0")
    # The ledger: the granted top-up paid for the invoice, and the other way round.
    [funding] = client.wallet_transactions.fundings(invoiced.lago_id)["wallet_transaction_fundings"]
    assert (funding.amount_cents, funding.credit_amount) == (3000, "20.0")
    assert funding.wallet_transaction.lago_id == granted.lago_id
    consumptions = client.wallet_transactions.consumptions(granted.lago_id)
    [consumption] = consumptions["wallet_transaction_consumptions"]
    assert (consumption.amount_cents, consumption.credit_amount) == (3000, "20.0")
    assert consumption.wallet_transaction.lago_id == invoiced.lago_id

    # The coupon was "once": it is spent.
    applied = client.applied_coupons.find_all({"external_customer_id": waterfall.usd.customer_id})
    [coupon] = applied["applied_coupons"]
    assert coupon.lago_id == waterfall.usd.applied_coupon_id
    assert coupon.status == "terminated"


# --- JPY: zero decimals ---------------------------------------------------------------
#
# Fees: subscription 1000 JPY; usage 37 x 12.34 = 456.58 -> round(0) 457. fees = 1457
# Coupon 12.5 %: round(182.125) = 182; shares 182 x 1000/1457 = 124.91421,
#   182 x 457/1457 = 57.08579 (to one unit of the fifth decimal). sub_total_excluding_taxes = 1275
# VAT 20 %:  875.08579 x 0.2 = 175.01716 + 399.91421 x 0.2 = 79.98284 = 255.0 -> 255
# City 8.5 %: 74.38229 + 33.99271 = 108.375 -> 108
#   taxes 363; sub_total_including_taxes 1638; no credit note
# Prepaid: 500 credits x 1 = 500 JPY -> total 1138.


def test_jpy_invoice_totals_follow_lagos_waterfall(
    lago_server: LagoServer, waterfall: Waterfall
) -> None:
    invoice = subscription_invoice(lago_server, waterfall.jpy)
    assert invoice.currency == "JPY"
    fees = fees_by_type(invoice)
    assert fees["subscription"].amount_cents == 1000
    assert fees["charge"].amount_cents == 457
    # Pro rata shares to 5 decimals (exactly 124.914207... and 57.085792...). Meterly
    # truncates and gives the remainder to the last fee so the shares sum to the coupon;
    # whether Lago rounds each share instead (124.91421) is not pinned: one unit of the
    # fifth decimal either way.
    shares = [Decimal(fees[t].precise_coupons_amount_cents) for t in ("subscription", "charge")]
    assert abs(shares[0] - Decimal("124.91421")) <= Decimal("0.00001")
    assert abs(shares[1] - Decimal("57.08579")) <= Decimal("0.00001")
    assert sum(shares) == Decimal(182)
    assert invoice.fees_amount_cents == 1457
    assert invoice.coupons_amount_cents == 182
    assert invoice.sub_total_excluding_taxes_amount_cents == 1275
    taxes = taxes_by_code(invoice)
    assert taxes[waterfall.jpy.vat_code].amount_cents == 255
    assert taxes[waterfall.jpy.city_code].amount_cents == 108
    assert invoice.taxes_amount_cents == 363
    assert invoice.sub_total_including_taxes_amount_cents == 1638
    assert invoice.credit_notes_amount_cents == 0
    assert invoice.prepaid_credit_amount_cents == 500
    assert invoice.total_amount_cents == 1138
    assert invoice.total_due_amount_cents == 1138
    [coupon] = invoice.credits.__root__
    assert (coupon.item.type, coupon.amount_cents, coupon.amount_currency) == (
        "coupon",
        182,
        "JPY",
    )
    wallet = lago_server.client.wallets.find(waterfall.jpy.wallet_id)
    assert (wallet.balance_cents, wallet.credits_balance, wallet.consumed_credits) == (
        0,
        "0.0",
        "500.0",
    )
