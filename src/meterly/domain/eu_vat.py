"""EU VAT for a seller in the EU (Lago's `eu_tax_management`, its `lago_eu_*` taxes).

Which VAT applies to a customer depends on where the seller and the customer are, and on
whether the customer is a business with a VAT number:

- a customer in the seller's country pays that country's standard rate;
- a business in another member state with a VAT number: reverse charge (0 %, the
  customer accounts for the VAT);
- a consumer (or a business without a VAT number) in another member state pays its own
  country's standard rate (the one-stop-shop rule for digital services);
- a customer outside the EU: exempt (0 %, an export);
- a customer whose country is unknown is treated as one in the seller's country.

Standard rates as of December 2026 (Estonia 24 % since July 2025, Romania 21 % since
August 2025, Slovakia 23 % and Finland 25.5 % since 2025). Reduced rates are out of scope,
as they are in Lago.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

STANDARD_RATES: dict[str, Decimal] = {
    "AT": Decimal(20),
    "BE": Decimal(21),
    "BG": Decimal(20),
    "CY": Decimal(19),
    "CZ": Decimal(21),
    "DE": Decimal(19),
    "DK": Decimal(25),
    "EE": Decimal(24),
    "ES": Decimal(21),
    "FI": Decimal("25.5"),
    "FR": Decimal(20),
    "GR": Decimal(24),
    "HR": Decimal(25),
    "HU": Decimal(27),
    "IE": Decimal(23),
    "IT": Decimal(22),
    "LT": Decimal(21),
    "LU": Decimal(17),
    "LV": Decimal(21),
    "MT": Decimal(18),
    "NL": Decimal(21),
    "PL": Decimal(23),
    "PT": Decimal(23),
    "RO": Decimal(21),
    "SE": Decimal(25),
    "SI": Decimal(22),
    "SK": Decimal(23),
}

REVERSE_CHARGE = "lago_eu_reverse_charge"
EXEMPT = "lago_eu_tax_exempt"


@dataclass(frozen=True, slots=True)
class EuTax:
    code: str
    name: str
    rate: Decimal


def is_member(country: str | None) -> bool:
    return (country or "").upper() in STANDARD_RATES


def standard(country: str) -> EuTax:
    code = country.upper()
    return EuTax(
        f"lago_eu_{code.lower()}_standard", f"Lago EU {code} standard", STANDARD_RATES[code]
    )


def tax_for(
    *, seller_country: str, customer_country: str | None, customer_vat_number: str | None
) -> EuTax:
    """The one tax Lago's EU tax management gives the customer (seller in the EU)."""
    seller = seller_country.upper()
    if not is_member(seller):
        raise ValueError(f"the seller's country {seller_country!r} is not in the EU")
    customer = (customer_country or seller).upper()
    if customer == seller:
        return standard(seller)
    if not is_member(customer):
        return EuTax(EXEMPT, "Lago EU tax exempt", Decimal(0))
    if customer_vat_number:
        return EuTax(REVERSE_CHARGE, "Lago EU reverse charge", Decimal(0))
    return standard(customer)
