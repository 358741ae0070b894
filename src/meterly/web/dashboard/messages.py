"""Errors in words: what a form shows instead of Lago's error codes.

The services answer with Lago's codes (`{"rate": ["value_is_invalid"]}`), which the API
returns as they are; a person filling a form reads a sentence naming the field instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from meterly.domain.errors import DomainError, NotFound, ValidationFailed

# What a code says about the field it is attached to.
_CODES = {
    "value_is_mandatory": "is required",
    "value_is_invalid": "is not valid",
    "value_already_exist": "is already used by another one",
    "value_is_duplicated": "has a value twice",
    "value_is_out_of_range": "must be greater than zero",
    "value_is_too_short": "is too short",
    "url_is_invalid": "must be an http:// or https:// address",
    "url_is_private": "points to a private network address, which webhooks may not call",
    "invalid_timezone": "is not a known time zone (for example Europe/Paris)",
    "invalid_amount": "must be a number of zero or more",
    "invalid_rate": "must be a percentage of zero or more",
    "invalid_fixed_amount": "must be an amount of zero or more",
    "invalid_package_size": "needs a package size of at least 1 (a whole number)",
    "invalid_free_units": "needs free units as a whole number of zero or more",
    "invalid_free_units_per_events": "needs free events as a whole number of zero or more",
    "invalid_free_units_per_total_aggregation": "needs free units as an amount of zero or more",
    "per_transaction_max_lower_than_per_transaction_min": (
        "has a per-transaction maximum lower than its minimum"
    ),
    "missing_graduated_ranges": "needs at least one tier",
    "missing_volume_ranges": "needs at least one tier",
    "missing_graduated_percentage_ranges": "needs at least one tier",
    "invalid_graduated_ranges": (
        "needs tiers in increasing order, each with an upper bound except the last"
    ),
    "invalid_volume_ranges": (
        "needs tiers in increasing order, each with an upper bound except the last"
    ),
    "invalid_graduated_percentage_ranges": (
        "needs tiers in increasing order, each with an upper bound except the last"
    ),
    "invalid_type": "has grouping keys that are not valid",
    "too_many_keys": "has too many grouping keys",
    "invalid_event_types": "names an event type that does not exist",
    "duplicated_values": "has the same threshold twice",
    "only_one_recurring_threshold": "may have only one recurring threshold",
    "webhook_endpoint_limit_reached": "is refused: the organization has the most endpoints allowed",
}

# How a field is called on the forms.
_FIELDS = {
    "amount_cents": "Amount",
    "amount_currency": "Currency",
    "billable_metric": "Billable metric",
    "billable_metric_id": "Billable metric",
    "charge_model": "Charge model",
    "code": "Code",
    "properties": "The price",
    "values": "A filter",
    "rate": "Rate",
    "name": "Name",
    "interval": "Interval",
    "trial_period": "Trial period",
    "webhook_url": "Webhook URL",
    "signature_algo": "Signature",
    "default_currency": "Default currency",
    "timezone": "Time zone",
    "net_payment_term": "Net payment term",
    "document_numbering": "Numbering scheme",
    "document_number_prefix": "Number prefix",
    "invoice_grace_period": "Grace period",
    "alert_type": "Alert type",
    "thresholds": "Thresholds",
    "recurring": "Recurring threshold",
    "base": "This change",
    "min_amount_cents": "Minimum",
    "pay_in_advance": "Paid in advance",
    "prorated": "Prorated",
    "api_key": "API key",
}


def field_label(name: str) -> str:
    return _FIELDS.get(name, name.replace("_", " ").capitalize())


def sentences(details: Mapping[str, object]) -> list[str]:
    """`{"rate": ["value_is_invalid"]}` -> `["Rate is not valid."]`."""
    out: list[str] = []
    for name, codes in details.items():
        listed = codes if isinstance(codes, list) else [codes]
        for code in listed:
            phrase = _CODES.get(str(code), "is not accepted")
            out.append(f"{field_label(name)} {phrase}.")
    return out


def describe(exc: DomainError) -> list[str]:
    """Any error a form's service call raised, as sentences."""
    if isinstance(exc, ValidationFailed):
        return sentences(exc.details)
    if isinstance(exc, NotFound):
        return [f"No such {exc.resource.replace('_', ' ')} in this organization."]
    return [f"Not done: {str(exc).replace('_', ' ')}."]
