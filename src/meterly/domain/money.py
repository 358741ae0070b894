"""Money: exact decimals, ISO 4217 minor units, and the rounding Lago applies.

Charge-model math runs in major units with unrounded Decimals. A fee is rounded once,
when it is finalised, to the currency's minor unit. The rounding modes are named here
so every call site says which rule it follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from meterly.domain.errors import FloatRejected, ValidationFailed

# Lago rounds fee amounts with BigDecimal#round (half up) and MoneyRails half up.
FEE_ROUNDING = ROUND_HALF_UP
# unit_amount_cents is assigned to a bigint column: Ruby's to_i truncates toward zero.
UNIT_AMOUNT_ROUNDING = ROUND_DOWN
# Taxes: the per-fee unrounded products are summed per tax, then rounded half up once.
TAX_ROUNDING = ROUND_HALF_UP
# Wallet credit amounts are rounded to the currency precision, half up.
CREDIT_ROUNDING = ROUND_HALF_UP
# Float#round in Ruby rounds half away from zero; for non-negative amounts that is half up.
SUBSCRIPTION_FEE_ROUNDING = ROUND_HALF_UP

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int

    @property
    def subunit_to_unit(self) -> int:
        return int(10**self.exponent)

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.exponent)


# Lago's currency list (app/models/concerns/currencies.rb) with ISO 4217 exponents
# from the Money gem. Most currencies have 2 decimals; the exceptions are listed.
_ZERO_DECIMAL = {
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
    "VND", "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip
_THREE_DECIMAL = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
_LAGO_CURRENCIES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BWP
BYN BZD CAD CDF CHF CLF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD ISK JMD JOD JPY KES KGS
KHR KMF KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRO MUR MVR
MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
RWF SAR SBD SCR SEK SGD SHP SLL SOS SRD STD SZL THB TJS TND TOP TRY TTD TWD TZS UAH UGX
USD UYU UZS VND VUV WST XAF XCD XOF XPF YER ZAR ZMW
""".split()

CURRENCIES: dict[str, Currency] = {
    code: Currency(code, 0 if code in _ZERO_DECIMAL else 3 if code in _THREE_DECIMAL else 2)
    for code in _LAGO_CURRENCIES
}
# CLF (Unidad de Fomento) has 4 decimals in ISO 4217.
CURRENCIES["CLF"] = Currency("CLF", 4)


def currency(code: str) -> Currency:
    """The currency for an ISO code, or a validation error Lago-style."""
    try:
        return CURRENCIES[code.upper()]
    except (KeyError, AttributeError):
        raise ValidationFailed.field("currency", "value_is_invalid") from None


def is_currency(code: object) -> bool:
    return isinstance(code, str) and code.upper() in CURRENCIES


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Build a Decimal from str, int or Decimal. Floats are rejected: they are not money."""
    if isinstance(value, bool):
        raise ValidationFailed.field(field, "value_is_invalid")
    if isinstance(value, float):
        raise FloatRejected(field)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationFailed.field(field, "value_is_invalid")
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationFailed.field(field, "value_is_invalid") from None
        if not result.is_finite():
            raise ValidationFailed.field(field, "value_is_invalid")
        return result
    raise ValidationFailed.field(field, "value_is_invalid")


def round_minor(amount: Decimal, cur: Currency, rounding: str = FEE_ROUNDING) -> int:
    """Major-unit amount -> integer minor units, rounded once with the named mode."""
    if isinstance(amount, float):
        raise FloatRejected()
    return int(amount.quantize(cur.quantum, rounding=rounding).scaleb(cur.exponent))


def to_minor_precise(amount: Decimal, cur: Currency) -> Decimal:
    """Major units -> minor units with no rounding (Lago's precise_amount_cents)."""
    return amount.scaleb(cur.exponent)


def truncate_minor(amount: Decimal, cur: Currency) -> int:
    """Lago's unit_amount_cents: the minor-unit value truncated toward zero."""
    return int(amount.scaleb(cur.exponent).to_integral_value(rounding=UNIT_AMOUNT_ROUNDING))


def round_cents(precise_cents: Decimal, rounding: str = FEE_ROUNDING) -> int:
    """An already-minor-unit decimal (e.g. a tax product) rounded to an integer."""
    return int(precise_cents.to_integral_value(rounding=rounding))


def from_minor(cents: int, cur: Currency) -> Decimal:
    return Decimal(cents).scaleb(-cur.exponent)


def ceil_to(value: Decimal, digits: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_CEILING)


def floor_to(value: Decimal, digits: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_FLOOR)


def round_to(value: Decimal, digits: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def decimal_str(value: Decimal) -> str:
    """Render like Ruby's BigDecimal#to_s on the wire: '1200.0', '0.05', never exponent form."""
    if value == value.to_integral_value():
        return f"{value.quantize(Decimal(1)):f}.0"
    text = f"{value.normalize():f}"
    return text
