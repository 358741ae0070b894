"""A subscription's own prices through Lago's granular routes: its effective charges and
fixed charges, and overriding one of them (or a charge's filters) for it alone.

An override works on the subscription's overridden plan (`plan_overrides`): the first one
creates that hidden child plan from the subscription's plan (`lifecycle._override_plan`),
later ones edit the child's copy in place. A fixed charge override carrying only `units`
(and `apply_units_immediately`) changes the subscription's units timeline instead
(services/billing/fixed_charge_fees), with no plan override.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound
from meterly.services.billing import fixed_charge_fees
from meterly.services.catalog import fixed_charges, plans
from meterly.services.common import Clock
from meterly.services.subscriptions.lifecycle import _override_plan
from meterly.store.tables import Charge, ChargeFilter, FixedCharge, Invoice, Subscription

# Fields a subscription may override on a charge (Lago's ChargeOverridableInput).
CHARGE_OVERRIDABLE = frozenset(
    {"invoice_display_name", "min_amount_cents", "properties", "filters", "tax_codes"}
)
# Sent with any of these, a fixed charge override is a plan override, not just units.
_FIXED_PLAN_FIELDS = frozenset({"invoice_display_name", "properties", "tax_codes"})


# --- charges ---------------------------------------------------------------------------


def charges(session: Session, sub: Subscription) -> list[Charge]:
    return plans.charges_for_billing(session, sub.plan_id)


def charge(session: Session, sub: Subscription, code: str) -> Charge:
    return plans.find_charge(session, plan=sub.plan, code=code)


def override_charge(
    session: Session, *, sub: Subscription, code: str, data: plans.ChargeInput, clock: Clock
) -> Charge:
    """Override the charge's overridable fields for this subscription only."""
    charge(session, sub, code)  # 404 before creating anything
    own = _own_charge(session, sub, code, clock)
    allowed = data.sent & CHARGE_OVERRIDABLE
    restricted = plans.ChargeInput(
        invoice_display_name=data.invoice_display_name,
        min_amount_cents=data.min_amount_cents,
        properties=data.properties,
        filters=data.filters if "filters" in allowed else None,
        tax_codes=data.tax_codes,
        sent=frozenset(allowed),
    )
    return plans.update_charge(session, charge=own, data=restricted, clock=clock)


def create_filter(
    session: Session, *, sub: Subscription, code: str, data: plans.FilterInput, clock: Clock
) -> tuple[Charge, ChargeFilter]:
    charge(session, sub, code)
    own = _own_charge(session, sub, code, clock)
    return own, plans.create_filter(session, charge=own, data=data, clock=clock)


def update_filter(
    session: Session,
    *,
    sub: Subscription,
    code: str,
    filter_id: str,
    data: plans.FilterInput,
    clock: Clock,
) -> tuple[Charge, ChargeFilter]:
    own, found = _own_filter(session, sub, code, filter_id, clock)
    plans.update_filter(session, charge=own, row=found, data=data, clock=clock)
    return own, found


def delete_filter(
    session: Session, *, sub: Subscription, code: str, filter_id: str, clock: Clock
) -> tuple[Charge, ChargeFilter]:
    own, found = _own_filter(session, sub, code, filter_id, clock)
    plans.delete_filter(session, row=found, clock=clock)
    return own, found


def _own_filter(
    session: Session, sub: Subscription, code: str, filter_id: str, clock: Clock
) -> tuple[Charge, ChargeFilter]:
    """The subscription's own copy of a filter: on the plan it is seen through, found by id
    there, then located in the override by its values (the copy has a new id)."""
    shown = charge(session, sub, code)
    source = plans.find_filter(session, charge=shown, filter_id=filter_id)
    own = _own_charge(session, sub, code, clock)
    if own.id == shown.id:
        return own, source
    for item in own.filters:
        if item.values == source.values:
            return own, item
    raise NotFound("charge_filter")  # pragma: no cover - the copy keeps every filter


def _own_charge(session: Session, sub: Subscription, code: str, clock: Clock) -> Charge:
    """The charge on the subscription's overridden plan, creating that plan if needed."""
    _ensure_override(session, sub, clock)
    return plans.find_charge(session, plan=sub.plan, code=code)


def _ensure_override(session: Session, sub: Subscription, clock: Clock) -> None:
    if sub.plan.parent_id is not None:
        return
    child = _override_plan(session, sub.plan, {}, now=clock.now())
    sub.plan_id = child.id
    sub.updated_at = clock.now()
    session.flush()
    session.refresh(sub)


# --- fixed charges ---------------------------------------------------------------------


def effective_fixed_charges(
    session: Session, sub: Subscription
) -> list[tuple[FixedCharge, Decimal]]:
    """The plan's fixed charges, each with the subscription's own units."""
    return [
        (row, fixed_charge_fees.latest_units(session, sub, row))
        for row in fixed_charge_fees.plan_fixed_charges(session, sub)
    ]


def effective_fixed_charge(
    session: Session, sub: Subscription, code: str
) -> tuple[FixedCharge, Decimal]:
    row = fixed_charges.find_fixed_charge(session, plan=sub.plan, code=code)
    return row, fixed_charge_fees.latest_units(session, sub, row)


def override_fixed_charge(
    session: Session,
    *,
    sub: Subscription,
    code: str,
    data: fixed_charges.FixedChargeInput,
    clock: Clock,
) -> tuple[FixedCharge, Decimal, Invoice | None]:
    """Units alone change the subscription's units (billed now or next period); a name,
    properties or taxes make a plan override holding this subscription's copy."""
    row, _ = effective_fixed_charge(session, sub, code)
    if data.sent & _FIXED_PLAN_FIELDS:
        _ensure_override(session, sub, clock)
        row = fixed_charges.find_fixed_charge(session, plan=sub.plan, code=code)
        fixed_charges.update_fixed_charge(
            session,
            row=row,
            data=fixed_charges.FixedChargeInput(
                invoice_display_name=data.invoice_display_name,
                properties=data.properties,
                tax_codes=data.tax_codes,
                sent=data.sent & _FIXED_PLAN_FIELDS,
            ),
            clock=clock,
        )
    invoice = None
    if data.units is not None:
        invoice = fixed_charge_fees.change_units(
            session,
            sub=sub,
            fixed=row,
            units=fixed_charges.parse_units(data.units),
            apply_now=bool(data.apply_units_immediately),
            clock=clock,
        )
    return row, fixed_charge_fees.latest_units(session, sub, row), invoice
