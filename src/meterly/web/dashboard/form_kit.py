"""What the dashboard's forms share: reading typed fields, and errors told in words.

The forms call the same services as the API, so a refusal arrives as the API's error
(`ValidationFailed` with Lago's codes, `NotFound`, `NotAllowed`). An operator reads a
sentence instead of `email: invalid_email_format`; the codes stay the API's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi.responses import RedirectResponse

from meterly.domain.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from meterly.domain.money import currency as find_currency
from meterly.domain.money import is_currency

# Lago's error codes, as the end of a sentence about the field.
_CODE_WORDS = {
    "value_is_mandatory": "is required",
    "value_is_invalid": "is not valid",
    "value_already_exist": "is already used by another record",
    "value_is_out_of_range": "is out of the allowed range",
    "invalid_timezone": "is not a known time zone (e.g. Europe/Paris)",
    "invalid_email_format": "is not a valid e-mail address",
    "not_a_valid_country_code": "must be a two-letter country code (e.g. FR)",
    "invalid_date": "is not a valid date, or is in the past",
    "insufficient_credits": "is more than the wallet holds",
    "invalid_recurring_rule": (
        "needs a trigger (an interval, or a threshold of credits) and credits to add"
    ),
    "coupon_is_not_reusable": "is not reusable and this customer already has it",
    "currencies_does_not_match": "does not match the customer's currency",
    "amount_below_minimum": "is below the wallet's minimum top-up",
    "amount_above_maximum": "is above the wallet's maximum top-up",
    "float_not_allowed": "must be a decimal number",
    "higher_than_remaining_fee_amount": "is more than is left to credit on this fee",
    "higher_than_remaining_invoice_amount": "is more than is left to credit on this invoice",
    "only_one_limitation_type_allowed": "may limit to plans or to metrics, not both",
    "total_amount_must_be_positive": "must credit at least one fee",
    "does_not_match_item_amounts": "must equal credit + refund + offset",
    "cannot_refund_unpaid_invoice": "cannot be refunded: the invoice is not paid",
    "cannot_credit_invoice": "cannot be credited on a credit invoice",
}
# Field names as an operator calls them.
_FIELD_WORDS = {
    "email": "E-mail",
    "timezone": "Time zone",
    "external_id": "External id",
    "external_customer_id": "Customer",
    "plan_code": "Plan",
    "amount_cents": "Amount",
    "amount_currency": "Currency",
    "unit_amount_cents": "Unit price",
    "percentage_rate": "Percentage",
    "frequency_duration": "Number of periods",
    "rate_amount": "Rate (value of one credit)",
    "paid_credits": "Paid credits",
    "granted_credits": "Granted credits",
    "voided_credits": "Credits to void",
    "expiration_at": "Expiration",
    "subscription_at": "Start date",
    "on_termination_credit_note": "Credit note on termination",
    "on_termination_invoice": "Termination invoice",
    "recurring_transaction_rules": "Recurring rule",
    "tax_codes": "Taxes",
    "credit_amount_cents": "Credit amount",
    "refund_amount_cents": "Refund amount",
    "offset_amount_cents": "Offset amount",
    "net_payment_term": "Net payment term",
    "billing_configuration.invoice_grace_period": "Grace period",
    "base": "Credit note",
}
# Refusals of an action (NotAllowed) by their code.
_ACTION_WORDS = {
    "subscription_not_active": "The subscription is not active any more.",
    "wallet_not_active": "The wallet is terminated: it takes no more credits.",
    "invalid_type_or_status": "Only a finalized invoice can be credited.",
    "invoice_not_draft": "Only a draft invoice can be finalized.",
}


def field_label(name: str) -> str:
    return _FIELD_WORDS.get(name, name.replace("_", " ").replace(".", " ").capitalize())


def sentences(error: DomainError) -> list[str]:
    """What went wrong, one sentence per field (or one for the whole action)."""
    if isinstance(error, ValidationFailed):
        out: list[str] = []
        for name, codes in error.details.items():
            for code in codes if isinstance(codes, list) else [codes]:
                words = _CODE_WORDS.get(str(code), str(code).replace("_", " "))
                out.append(f"{field_label(name)} {words}.")
        return out
    if isinstance(error, NotFound):
        return [f"No such {error.resource.replace('_', ' ')}."]
    if isinstance(error, NotAllowed):
        return [_ACTION_WORDS.get(error.code, f"Not allowed: {error.code.replace('_', ' ')}.")]
    return [str(error)]


def to_page(path: str, message: str) -> RedirectResponse:
    """After a change: back to a page that says in words what was done (Post/Redirect/Get)."""
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}{urlencode({'message': message})}", status_code=303)


def text(data: Mapping[str, str], name: str) -> str | None:
    value = (data.get(name) or "").strip()
    return value or None


def decimal(data: Mapping[str, str], name: str) -> Decimal | None:
    raw = text(data, name)
    if raw is None:
        return None
    try:
        value = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        raise ValidationFailed.field(name, "value_is_invalid") from None
    if not value.is_finite():
        raise ValidationFailed.field(name, "value_is_invalid")
    return value


def whole(data: Mapping[str, str], name: str) -> int | None:
    value = decimal(data, name)
    if value is None:
        return None
    if value != value.to_integral_value():
        raise ValidationFailed.field(name, "value_is_invalid")
    return int(value)


def cents(data: Mapping[str, str], name: str, code: str | None, *, field: str) -> int | None:
    """An amount typed in major units (12.50) as minor units of its currency (1250).

    `field` names the API field the amount becomes, so an error speaks of it."""
    value = decimal(data, name)
    if value is None:
        return None
    if not code or not is_currency(code):
        raise ValidationFailed.field("currency", "value_is_invalid")
    scaled = value.scaleb(find_currency(code).exponent)
    if scaled != scaled.to_integral_value():
        # 12.345 USD has no exact minor units: refused rather than rounded behind one's back.
        raise ValidationFailed.field(field, "value_is_invalid")
    return int(scaled)


def local_datetime(data: Mapping[str, str], name: str, timezone: str) -> datetime | None:
    """A `datetime-local` field, read in the time zone the form says it is in."""
    raw = text(data, name)
    if raw is None:
        return None
    try:
        naive = datetime.fromisoformat(raw)
        zone = ZoneInfo(timezone)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValidationFailed.field(name, "invalid_date") from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=zone)


def in_zone(value: datetime | None, timezone: str) -> str:
    """A stored instant shown in a time zone, naming it: `2024-02-10 13:00 Europe/Paris`."""
    if value is None:
        return "—"
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, ZoneInfoNotFoundError):
        zone, timezone = ZoneInfo("UTC"), "UTC"
    return f"{value.astimezone(zone):%Y-%m-%d %H:%M} {timezone}"


def pages(total: int, per_page: int) -> int:
    return max((total + per_page - 1) // per_page, 1)


def kept(data: Mapping[str, str]) -> dict[str, Any]:
    """The submitted values to show again in a refused form (never the CSRF token)."""
    return {k: v for k, v in data.items() if k != "csrf"}
