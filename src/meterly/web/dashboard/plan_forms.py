"""The plan editor's forms, read into the catalog's inputs and written back for editing.

A form is flat text fields; a charge's price is Lago's `properties` object. Money travels as
decimal strings (Lago refuses JSON numbers for amounts), counts as integers, range bounds as
numbers. Text that does not read as the type is passed through unchanged, so the catalog's
own rules reject it with their code, exactly as they would over the API.

Tiers are entered as "up to" bounds: each tier starts one unit above the previous one's
upper bound, as Lago's own editor sends them, and the last tier is open-ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from meterly.domain.errors import ValidationFailed
from meterly.domain.money import currency as find_currency
from meterly.services.catalog import plans as plan_service

CHARGE_MODELS = (
    "standard",
    "graduated",
    "graduated_percentage",
    "package",
    "percentage",
    "volume",
    "dynamic",
)
MODEL_LABELS = {
    "standard": "Standard (price per unit)",
    "graduated": "Graduated (each tier priced on its own units)",
    "graduated_percentage": "Graduated percentage (a rate per tier)",
    "package": "Package (price per block of units)",
    "percentage": "Percentage (of the amount in the events)",
    "volume": "Volume (all units at the reached tier's price)",
    "dynamic": "Dynamic (the price comes with each event)",
}
TIERS = 5
FILTERS = 3
THRESHOLDS = 3
_RANGE_KEYS = {
    "graduated": "graduated_ranges",
    "volume": "volume_ranges",
    "graduated_percentage": "graduated_percentage_ranges",
}
_PERCENTAGE_AMOUNTS = ("fixed_amount", "per_transaction_min_amount", "per_transaction_max_amount")


def _text(data: Mapping[str, str], key: str) -> str:
    return (data.get(key) or "").strip()


def _count(text: str) -> object:
    """A whole number as an int; anything else as sent (the catalog refuses it)."""
    try:
        return int(text)
    except ValueError:
        return text


def _bound(text: str) -> object:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    return int(value) if value == value.to_integral_value() else value


def minor_units(text: str, currency_code: str, field: str = "amount_cents") -> int:
    """A major-unit amount typed by a person ("49.99") as minor units of its currency."""
    try:
        exponent = find_currency(currency_code or "USD").exponent
    except Exception:
        exponent = 2
    try:
        value = Decimal(text.strip() or "0")
    except InvalidOperation:
        raise ValidationFailed.field(field, "value_is_invalid") from None
    if not value.is_finite():
        raise ValidationFailed.field(field, "value_is_invalid")
    return int((value * (Decimal(10) ** exponent)).to_integral_value())


def major_units(cents: int | None, currency_code: str) -> str:
    if cents is None:
        return ""
    try:
        exponent = find_currency(currency_code or "USD").exponent
    except Exception:
        exponent = 2
    return format(Decimal(cents).scaleb(-exponent), f".{exponent}f")


# --- charge prices -------------------------------------------------------------------------


def _tiers(model: str, data: Mapping[str, str], prefix: str) -> list[dict[str, Any]]:
    rows = []
    for j in range(TIERS):
        cells = {
            name: _text(data, f"{prefix}tier{j}_{name}")
            for name in ("to", "per_unit", "flat", "rate")
        }
        if any(cells.values()):
            rows.append(cells)
    tiers: list[dict[str, Any]] = []
    start: object = 0
    for index, cells in enumerate(rows):
        last = index == len(rows) - 1
        to: object = _bound(cells["to"]) if cells["to"] else None
        tier: dict[str, Any] = {"from_value": start, "to_value": to}
        tier["flat_amount"] = cells["flat"] or "0"
        if model == "graduated_percentage":
            tier["rate"] = cells["rate"] or "0"
        else:
            tier["per_unit_amount"] = cells["per_unit"] or "0"
        tiers.append(tier)
        if not last:
            start = to + 1 if isinstance(to, int | Decimal) else to
    return tiers


def properties_from_form(model: str, data: Mapping[str, str], prefix: str = "") -> dict[str, Any]:
    """Lago's `properties` of `model` from the form fields starting with `prefix`."""
    p = prefix
    props: dict[str, Any] = {}
    if model in ("standard", "package"):
        props["amount"] = _text(data, f"{p}unit_price") or "0"
    if model == "package":
        props["package_size"] = _count(_text(data, f"{p}package_size") or "1")
        props["free_units"] = _count(_text(data, f"{p}free_units") or "0")
    if model == "percentage":
        props["rate"] = _text(data, f"{p}rate") or "0"
        for name in _PERCENTAGE_AMOUNTS:
            if _text(data, f"{p}{name}"):
                props[name] = _text(data, f"{p}{name}")
        if _text(data, f"{p}free_units_per_events"):
            props["free_units_per_events"] = _count(_text(data, f"{p}free_units_per_events"))
        if _text(data, f"{p}free_units_per_total_aggregation"):
            props["free_units_per_total_aggregation"] = _text(
                data, f"{p}free_units_per_total_aggregation"
            )
    if model in _RANGE_KEYS:
        props[_RANGE_KEYS[model]] = _tiers(model, data, p)
    keys = [k.strip() for k in _text(data, f"{p}pricing_group_keys").split(",") if k.strip()]
    if keys:
        props["pricing_group_keys"] = keys
    return props


def has_price(data: Mapping[str, str], prefix: str) -> bool:
    """Whether a filter row sets a price of its own (else it takes the model's defaults)."""
    return any(
        value.strip()
        for key, value in data.items()
        if key.startswith(prefix) and not key.endswith(("_key", "_values", "_name"))
    )


def _filters(model: str, data: Mapping[str, str]) -> tuple[plan_service.FilterInput, ...]:
    found = []
    for k in range(FILTERS):
        p = f"filter{k}_"
        key = _text(data, f"{p}key")
        values = [v.strip() for v in _text(data, f"{p}values").split(",") if v.strip()]
        if not key and not values:
            continue
        found.append(
            plan_service.FilterInput(
                invoice_display_name=_text(data, f"{p}name") or None,
                properties=properties_from_form(model, data, p) if has_price(data, p) else None,
                values={key: values or [plan_service.ALL_FILTER_VALUES]},
                sent=frozenset({"invoice_display_name", "properties", "values"}),
            )
        )
    return tuple(found)


def charge_input(
    data: Mapping[str, str], *, metric_id: str | None, currency_code: str, codes: Sequence[str]
) -> plan_service.ChargeInput:
    model = _text(data, "charge_model") or "standard"
    minimum = _text(data, "min_amount")
    fields: dict[str, Any] = {
        "billable_metric_id": metric_id,
        "charge_model": model,
        "invoice_display_name": _text(data, "charge_display_name") or None,
        "pay_in_advance": data.get("charge_pay_in_advance") == "on",
        "prorated": data.get("prorated") == "on",
        # Only the edit form offers the box; elsewhere a charge is invoiced (Lago's default).
        "invoiceable": data.get("invoiceable") == "on" if "invoiceable_shown" in data else True,
        "min_amount_cents": minor_units(minimum, currency_code, "min_amount_cents")
        if minimum
        else 0,
        "properties": properties_from_form(model, data),
        "filters": _filters(model, data),
        "tax_codes": tuple(codes),
    }
    return plan_service.ChargeInput(**fields, sent=frozenset(fields))


def tax_codes(raw: str) -> tuple[str, ...]:
    """Checked tax boxes arrive joined by the form reader (`auth.form` keeps one value)."""
    return tuple(code for code in raw.split(",") if code)


# --- plans ---------------------------------------------------------------------------------


def _thresholds(data: Mapping[str, str], currency_code: str) -> tuple[dict[str, Any], ...]:
    items = []
    for k in range(THRESHOLDS):
        amount = _text(data, f"threshold{k}_amount")
        if not amount:
            continue
        items.append(
            {
                "amount_cents": minor_units(amount, currency_code),
                "threshold_display_name": _text(data, f"threshold{k}_name") or None,
                "recurring": data.get(f"threshold{k}_recurring") == "on",
            }
        )
    return tuple(items)


def plan_input(
    data: Mapping[str, str],
    *,
    taxes: Sequence[str],
    charges: tuple[plan_service.ChargeInput, ...] | None,
) -> plan_service.PlanInput:
    cur = (_text(data, "currency") or "USD").upper()
    commitment = _text(data, "minimum_commitment")
    trial = _text(data, "trial_period")
    fields: dict[str, Any] = {
        "name": _text(data, "name") or None,
        "code": _text(data, "code") or None,
        "interval": _text(data, "interval") or None,
        "amount_cents": minor_units(_text(data, "amount"), cur),
        "amount_currency": cur,
        "pay_in_advance": data.get("pay_in_advance") == "on",
        "trial_period": trial or "0",
        "description": _text(data, "description") or None,
        "invoice_display_name": _text(data, "invoice_display_name") or None,
        "tax_codes": tuple(taxes),
        "minimum_commitment": {"amount_cents": minor_units(commitment, cur)}
        if commitment
        else None,
        "usage_thresholds": _thresholds(data, cur),
    }
    if charges is not None:
        fields["charges"] = charges
    return plan_service.PlanInput(**fields, sent=frozenset(fields))


def plan_values(plan: Any) -> dict[str, str]:
    """A stored plan as the form's fields, for editing it."""
    cur = plan.amount_currency
    values = {
        "name": plan.name,
        "code": plan.code,
        "interval": plan.interval,
        "amount": major_units(plan.amount_cents, cur),
        "currency": cur,
        "pay_in_advance": "on" if plan.pay_in_advance else "",
        "trial_period": format(Decimal(plan.trial_period or 0).normalize(), "f"),
        "description": plan.description or "",
        "invoice_display_name": plan.invoice_display_name or "",
        "taxes": ",".join(plan.tax_codes or ()),
        "minimum_commitment": major_units((plan.minimum_commitment or {}).get("amount_cents"), cur),
    }
    for k, t in enumerate(plan.usage_thresholds or ()):
        values[f"threshold{k}_amount"] = major_units(t["amount_cents"], cur)
        values[f"threshold{k}_name"] = t.get("threshold_display_name") or ""
        values[f"threshold{k}_recurring"] = "on" if t.get("recurring") else ""
    return values


def _price_values(model: str, props: Mapping[str, Any], prefix: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in ("package_size", "free_units", "rate", "free_units_per_events"):
        if props.get(name) is not None:
            values[f"{prefix}{name}"] = str(props[name])
    for name in (*_PERCENTAGE_AMOUNTS, "free_units_per_total_aggregation"):
        if props.get(name) is not None:
            values[f"{prefix}{name}"] = str(props[name])
    if props.get("amount") is not None:
        values[f"{prefix}unit_price"] = str(props["amount"])
    for j, tier in enumerate(props.get(_RANGE_KEYS.get(model, ""), ()) or ()):
        values[f"{prefix}tier{j}_to"] = (
            "" if tier.get("to_value") is None else str(tier["to_value"])
        )
        values[f"{prefix}tier{j}_per_unit"] = str(tier.get("per_unit_amount") or "")
        values[f"{prefix}tier{j}_flat"] = str(tier.get("flat_amount") or "")
        values[f"{prefix}tier{j}_rate"] = str(tier.get("rate") or "")
    keys = props.get("pricing_group_keys") or props.get("grouped_by")
    if keys:
        values[f"{prefix}pricing_group_keys"] = ", ".join(keys)
    return values


def charge_values(charge: Any, currency_code: str) -> dict[str, str]:
    """A stored charge as the form's fields, for editing it."""
    model = charge.charge_model
    values = {
        "metric_code": charge.billable_metric.code,
        "charge_model": model,
        "charge_display_name": charge.invoice_display_name or "",
        "charge_pay_in_advance": "on" if charge.pay_in_advance else "",
        "prorated": "on" if charge.prorated else "",
        "invoiceable": "on" if charge.invoiceable else "",
        "min_amount": major_units(charge.min_amount_cents, currency_code)
        if charge.min_amount_cents
        else "",
        "taxes": ",".join(charge.tax_codes or ()),
        **_price_values(model, charge.properties or {}, ""),
    }
    for k, f in enumerate(charge.filters):
        p = f"filter{k}_"
        key, listed = next(iter(dict(f.values).items()), ("", []))
        values[f"{p}key"] = key
        values[f"{p}values"] = ", ".join(v for v in listed if v != plan_service.ALL_FILTER_VALUES)
        values[f"{p}name"] = f.invoice_display_name or ""
        values.update(_price_values(model, f.properties or {}, p))
    return values
