"""EU VAT of Lago's eu_tax_management (domain/eu_vat.py), case by case."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterly.domain.eu_vat import EXEMPT, REVERSE_CHARGE, STANDARD_RATES, tax_for


@pytest.mark.parametrize(
    ("customer_country", "vat_number", "code", "rate"),
    [
        ("FR", None, "lago_eu_fr_standard", Decimal(20)),  # same country as the seller
        ("fr", "FR123", "lago_eu_fr_standard", Decimal(20)),  # a French business too
        (None, None, "lago_eu_fr_standard", Decimal(20)),  # unknown place: the seller's
        ("DE", None, "lago_eu_de_standard", Decimal(19)),  # a German consumer: OSS
        ("DE", "DE811907980", REVERSE_CHARGE, Decimal(0)),  # a German business
        ("US", None, EXEMPT, Decimal(0)),  # outside the EU
        ("CH", "CHE-1", EXEMPT, Decimal(0)),
    ],
)
def test_a_french_seller(
    customer_country: str | None, vat_number: str | None, code: str, rate: Decimal
) -> None:
    tax = tax_for(
        seller_country="FR", customer_country=customer_country, customer_vat_number=vat_number
    )
    assert (tax.code, tax.rate) == (code, rate)


def test_twenty_seven_member_states() -> None:
    assert len(STANDARD_RATES) == 27
    assert STANDARD_RATES["FI"] == Decimal("25.5") and STANDARD_RATES["HU"] == Decimal(27)


def test_a_seller_outside_the_eu_cannot_manage_eu_vat() -> None:
    with pytest.raises(ValueError):
        tax_for(seller_country="US", customer_country="FR", customer_vat_number=None)
