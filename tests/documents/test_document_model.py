"""Golden tests of the document model: invoices billed by the engine, read back as documents.

Every figure is worked by hand from the billing rules in the comments; the model must
neither lose nor recompute any of them. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from meterly.services.documents import (
    Deduction,
    TaxLine,
    display_unit_price,
    invoice_document,
    render,
)
from tests.conftest import ApiClient
from tests.documents.conftest import Scenario, ok, plain

# 0-1000 free, then 0.01342 per unit plus a 2.00 flat fee for the tier.
LADDER = [(0, 1000, "0", "0"), (1001, None, "0.01342", "2")]


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- unit prices for people ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exact", "exponent", "shown"),
    [
        # Whole cents keep the currency's two places.
        ("10", 2, "10.00"),
        ("0.5", 2, "0.50"),
        # 0.0134187742672641665157043: first significant digit at 10^-2, four significant
        # digits need 5 places (0.01342), within the 2 + 4 = 6 allowed.
        ("0.0134187742672641665157043", 2, "0.01342"),
        # 8.71 / 1500 = 0.0058066...: four significant digits need 6 places -> 0.005807.
        ("0.0058066666666666666666666666666667", 2, "0.005807"),
        # 0.000012345: four significant digits would need 8 places; capped at 2 + 4 = 6.
        ("0.000012345", 2, "0.000012"),
        # 1.23456: four significant digits need 3 places -> 1.235.
        ("1.23456", 2, "1.235"),
        # A trailing zero past the cents says nothing: 0.01340 -> 0.0134.
        ("0.013401", 2, "0.0134"),
        # JPY has no minor unit: 0.5 yen keeps its one place, 1000 yen none.
        ("0.5", 0, "0.5"),
        ("1000", 0, "1000"),
        # KWD has three places.
        ("1.5", 3, "1.500"),
        ("0", 3, "0.000"),
    ],
)
def test_display_unit_price(exact: str, exponent: int, shown: str) -> None:
    assert str(display_unit_price(Decimal(exact), exponent)) == shown


# --- golden invoices ---------------------------------------------------------------------------


def test_paris_customer_in_french_sees_local_dates(api: ApiClient) -> None:
    """Subscribed 1 December 00:00 Paris (30 Nov 23:00 UTC), billed at 1 January Paris."""
    api.client.app.state.clock.set(at(2026, 11, 20))
    s = Scenario(api, timezone="Europe/Paris", locale="fr", ladder=LADDER)
    s.setup()
    s.subscribe("sub_a", at(2026, 11, 30, 23))
    s.usage("sub_a", at(2026, 12, 10), 1500, "e1")
    (invoice_id,) = s.bill(at(2027, 1, 1, 0, 30))
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        doc = invoice_document(session, invoice_id)
    assert (doc.locale, doc.timezone, doc.currency, doc.exponent) == (
        "fr",
        "Europe/Paris",
        "EUR",
        2,
    )
    # Paris local dates, not the UTC ones (30 Nov 23:00 UTC is 1 Dec in Paris).
    (group,) = doc.groups
    assert (group.period_from, group.period_to) == (date(2026, 12, 1), date(2026, 12, 31))
    assert doc.issuing_date == date(2027, 1, 1)
    plan, calls = group.lines
    assert (plan.fee_type, plan.amount_cents, plan.tiers) == ("subscription", 1000, ())
    # 1500 units: 1000 free, 500 x 0.01342 = 6.71, + 2.00 flat = 8.71.
    assert (calls.name, calls.units, calls.amount_cents) == ("API calls", Decimal(1500), 871)
    # 8.71 / 1500 = 0.005806666...: exact in the model, 0.005807 for people.
    assert calls.unit_price.quantize(Decimal("1e-12")) == Decimal("0.005806666667")
    assert calls.display_unit_price == Decimal("0.005807")
    free, paid = calls.tiers
    assert (free.units, free.amount) == (Decimal(1000), Decimal("0.00"))
    assert (paid.units, paid.display_unit_price) == (Decimal(500), Decimal("0.01342"))
    assert (paid.flat_amount, paid.amount) == (Decimal("2.00"), Decimal("8.71"))
    # Fees 1000 + 871 = 1871; VAT 20 % = 374.2 -> 374; total 2245. Nothing deducted.
    assert doc.taxes == (TaxLine("vat", "VAT", Decimal(20), 1871, 374),)
    assert doc.deductions == ()
    t = doc.totals
    assert (t.fees_cents, t.sub_total_excluding_taxes_cents, t.taxes_cents) == (1871, 1871, 374)
    assert (t.total_cents, t.due_cents) == (2245, 2245)

    html = plain(render.invoice_html(doc))
    # French labels and formats: comma decimals, spaces in thousands and before €.
    for text in ("Facture", "Net à payer", "Dates en Europe/Paris", "Total HT", "1 001 et plus"):
        assert text in html, text
    assert "22,45 €" in html and "0,005807 €" in html
    assert "1 déc. 2026 – 31 déc. 2026" in html
    # Nothing to deduct: no coupon, credit note or prepaid line at all.
    for absent in ("Remise", "Avoir", "Crédits prépayés", "-0,00"):
        assert absent not in html, absent


def test_new_york_customer_with_coupon_and_prepaid_credits(api: ApiClient) -> None:
    """Subscribed 1 December 00:00 New York (05:00 UTC); a 5.00 coupon and 3.00 of credits."""
    api.client.app.state.clock.set(at(2026, 11, 20))
    s = Scenario(api, currency="USD", timezone="America/New_York", locale="en", ladder=LADDER)
    s.setup()
    coupon = {
        "name": "Welcome",
        "code": "welcome",
        "coupon_type": "fixed_amount",
        "amount_cents": 500,
        "amount_currency": "USD",
        "frequency": "once",
        "expiration": "no_expiration",
    }
    ok(api.post("coupons", {"coupon": coupon}))
    applied = {"external_customer_id": "cust", "coupon_code": "welcome"}
    ok(api.post("applied_coupons", {"applied_coupon": applied}))
    wallet = {
        "external_customer_id": "cust",
        "name": "Credits",
        "rate_amount": "1",
        "currency": "USD",
        "granted_credits": "3",
    }
    ok(api.post("wallets", {"wallet": wallet}))
    s.subscribe("sub_a", at(2026, 12, 1, 5))
    s.usage("sub_a", at(2026, 12, 10), 1500, "e1")
    (invoice_id,) = s.bill(at(2027, 1, 1, 5, 30))
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        doc = invoice_document(session, invoice_id)
    (group,) = doc.groups
    assert (group.period_from, group.period_to) == (date(2026, 12, 1), date(2026, 12, 31))
    assert doc.timezone == "America/New_York"
    # Fees 1871; coupon 500 -> 1371 before tax; VAT 20 % of 1371 = 274.2 -> 274;
    # 1371 + 274 = 1645; prepaid credits 300 -> total 1345.
    assert doc.deductions == (
        Deduction("coupon", "Welcome", 500),
        Deduction("prepaid_credit", "Credits", 300),
    )
    assert doc.taxes == (TaxLine("vat", "VAT", Decimal(20), 1371, 274),)
    t = doc.totals
    assert (t.fees_cents, t.coupons_cents, t.sub_total_excluding_taxes_cents) == (1871, 500, 1371)
    assert (t.taxes_cents, t.sub_total_including_taxes_cents) == (274, 1645)
    assert (t.prepaid_credits_cents, t.total_cents, t.due_cents) == (300, 1345, 1345)
    html = plain(render.invoice_html(doc))
    for text in ("Coupon Welcome", "-$5.00", "Prepaid credits Credits", "-$3.00", "$13.45"):
        assert text in html, text
    assert "VAT 20 % on $13.71" in html
    assert "Dec 1, 2026 – Dec 31, 2026" in html


def test_tokyo_customer_in_german_pays_in_yen(api: ApiClient) -> None:
    """JPY has no minor unit: amount_cents are yen. Subscribed 1 Dec 00:00 Tokyo."""
    api.client.app.state.clock.set(at(2026, 11, 20))
    s = Scenario(
        api,
        currency="JPY",
        timezone="Asia/Tokyo",
        locale="de",
        tax_rate="10",
        plan_cents=1000,
        ladder=[(0, None, "0.5", "0")],
    )
    s.setup()
    s.subscribe("sub_a", at(2026, 11, 30, 15))
    s.usage("sub_a", at(2026, 12, 10), 1000, "e1")
    (invoice_id,) = s.bill(at(2026, 12, 31, 15, 30))
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        doc = invoice_document(session, invoice_id)
    assert (doc.currency, doc.exponent, doc.locale) == ("JPY", 0, "de")
    (group,) = doc.groups
    assert (group.period_from, group.period_to) == (date(2026, 12, 1), date(2026, 12, 31))
    _, calls = group.lines
    # 1000 units x 0.5 yen = 500 yen; the half-yen unit price keeps its one place.
    assert (calls.amount_cents, calls.display_unit_price) == (500, Decimal("0.5"))
    # 1000 + 500 = 1500 yen; 10 % = 150; total 1650.
    assert doc.taxes == (TaxLine("vat", "VAT", Decimal(10), 1500, 150),)
    assert (doc.totals.total_cents, doc.totals.due_cents) == (1650, 1650)
    html = plain(render.invoice_html(doc))
    # German: dot thousands, yen after the number, German labels and dates.
    for text in ("Rechnung", "Zu zahlen", "1.650 ¥", "0,5 ¥", "01.12.2026 – 31.12.2026"):
        assert text in html, text


def test_kuwaiti_dinar_has_three_places(api: ApiClient) -> None:
    api.client.app.state.clock.set(at(2026, 11, 20))
    s = Scenario(api, currency="KWD", tax_rate="5", plan_cents=1500)
    s.setup()
    s.subscribe("sub_a", at(2026, 12, 1))
    (invoice_id,) = s.bill(at(2027, 1, 1, 0, 30))
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        doc = invoice_document(session, invoice_id)
    assert (doc.exponent, doc.timezone, doc.locale) == (3, "UTC", "en")
    # 1.500 KWD plan, 5 % = 0.075, total 1.575 KWD (1575 fils).
    assert doc.taxes == (TaxLine("vat", "VAT", Decimal(5), 1500, 75),)
    assert doc.totals.total_cents == 1575
    html = plain(render.invoice_html(doc))
    assert "KWD 1.575" in html and "KWD 0.075" in html


def test_two_subscriptions_on_one_invoice_are_grouped(api: ApiClient) -> None:
    api.client.app.state.clock.set(at(2026, 11, 20))
    s = Scenario(api, ladder=LADDER)
    s.setup()
    s.subscribe("sub_eu", at(2026, 12, 1), name="Team Europe")
    s.subscribe("sub_us", at(2026, 12, 1), name="Team America")
    s.usage("sub_eu", at(2026, 12, 5), 1500, "e1")
    s.usage("sub_us", at(2026, 12, 6), 1100, "e2")
    (invoice_id,) = s.bill(at(2027, 1, 1, 0, 30))
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        doc = invoice_document(session, invoice_id)
    by_name = {g.name: g for g in doc.groups}
    assert set(by_name) == {"Team Europe", "Team America"}
    # Europe: 1000 + (500 x 0.01342 + 2.00 = 8.71) = 1871.
    # America: 1000 + (100 x 0.01342 = 1.342, + 2.00 = 3.342 -> 3.34) = 1334.
    assert by_name["Team Europe"].amount_cents == 1871
    assert by_name["Team America"].amount_cents == 1334
    assert doc.lines == ()
    # 1871 + 1334 = 3205; VAT 20 % = 641; total 3846.
    assert (doc.totals.fees_cents, doc.totals.taxes_cents, doc.totals.total_cents) == (
        3205,
        641,
        3846,
    )
    html = plain(render.invoice_html(doc))
    assert html.index("Team Europe") != html.index("Team America")
