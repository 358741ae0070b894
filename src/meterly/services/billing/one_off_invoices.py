"""One-off invoices: add-on fees billed at once, outside any subscription (Lago's
`POST /invoices`). Taxes per fee: the fee's own tax codes, else the add-on's, else the
customer's, else the organization's. Finalized immediately; `invoice.one_off_created`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.money import FEE_ROUNDING, currency, is_currency, round_cents
from meterly.domain.periods import local_date, local_midnight
from meterly.domain.taxes import Tax as TaxRate
from meterly.services.accounts import billing_entities, customers
from meterly.services.billing import invoices as invoice_service
from meterly.services.billing.issuing import apply_waterfall
from meterly.services.catalog import TaxContext, add_ons, taxes_by_codes
from meterly.services.common import Clock, new_id
from meterly.services.notifications import enqueue
from meterly.store.tables import Customer, Fee, Invoice, Organization
from meterly.store.tables_coupons import AddOnRow

ONE_OFF = "one_off"


@dataclass(frozen=True, slots=True)
class OneOffFeeInput:
    add_on_code: str | None = None
    unit_amount_cents: int | None = None
    units: object = None
    description: str | None = None
    invoice_display_name: str | None = None
    from_datetime: datetime | None = None
    to_datetime: datetime | None = None
    tax_codes: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class OneOffInvoiceInput:
    external_customer_id: str | None = None
    currency: str | None = None
    fees: tuple[OneOffFeeInput, ...] = ()


@dataclass(frozen=True, slots=True)
class _PerFeeTaxes(TaxContext):
    """Hands the waterfall each add-on fee's resolved taxes, in fee order.

    `apply_waterfall` asks `for_fee_type("add_on")` once per fee, in order, without
    the fee's codes; when it passes codes, the ordinary rules apply.
    """

    per_fee: list[tuple[TaxRate, ...]] = field(default_factory=list)

    def for_fee_type(
        self, fee_type: str, codes: Sequence[str] | None = None
    ) -> tuple[TaxRate, ...]:
        if fee_type == "add_on" and codes is None and self.per_fee:
            return self.per_fee.pop(0)
        return TaxContext.for_fee_type(self, fee_type, codes)


def create(
    session: Session, *, organization_id: str, data: OneOffInvoiceInput, clock: Clock
) -> Invoice:

    if not data.external_customer_id:
        raise NotFound("customer")
    customer = customers.find(
        session, organization_id=organization_id, external_id=data.external_customer_id
    )
    if not data.fees:
        raise NotFound("fees")
    org = session.get(Organization, organization_id)
    assert org is not None
    items = [(_add_on(session, organization_id, f), f) for f in data.fees]
    code = _currency(customer, data.currency or items[0][0].amount_currency)
    for _, fee_input in items:
        if fee_input.tax_codes:
            taxes_by_codes(session, organization_id, fee_input.tax_codes)
    now = clock.now()
    invoice = _invoice(session, customer=customer, org=org, currency_code=code, now=now)
    context = TaxContext.for_customer(session, customer, None)
    fees: list[Fee] = []
    resolved: list[tuple[TaxRate, ...]] = []
    for position, (add_on, fee_input) in enumerate(items):
        codes = list(fee_input.tax_codes or add_on.tax_codes or ())
        fee = _fee(invoice, add_on, fee_input, position=position, tax_codes=codes, now=now)
        session.add(fee)
        fees.append(fee)
        resolved.append(context.for_fee_type("add_on", codes))
    session.flush()
    taxes = _PerFeeTaxes(
        organization=context.organization,
        customer=context.customer,
        plan=context.plan,
        by_code=context.by_code,
        per_fee=resolved,
    )
    apply_waterfall(session, invoice=invoice, fees=fees, taxes=taxes, clock=clock)
    invoice_service.finalize(session, invoice=invoice, clock=clock)
    enqueue(session, organization_id, "invoice.one_off_created", "invoice", invoice.id, clock)
    session.flush()
    session.refresh(invoice)
    return invoice


def _add_on(session: Session, organization_id: str, fee: OneOffFeeInput) -> AddOnRow:
    if not fee.add_on_code:
        raise NotFound("add_on")
    return add_ons.find(session, organization_id=organization_id, code=fee.add_on_code)


def _currency(customer: Customer, requested: str) -> str:
    """The invoice's currency; a customer without one takes it. A customer may be invoiced
    in several currencies (Lago, July 2026); one invoice is in one currency."""
    if not is_currency(requested):
        raise ValidationFailed.field("currency", "value_is_invalid")
    code = requested.upper()
    if customer.currency is None:
        customer.currency = code
    return code


def _units(value: object) -> Decimal:
    if value is None:
        return Decimal(1)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValidationFailed.field("units", "value_is_invalid")
    try:
        units = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed.field("units", "value_is_invalid") from None
    if not units.is_finite() or units < 0:
        raise ValidationFailed.field("units", "value_is_invalid")
    return units


def _invoice(
    session: Session, *, customer: Customer, org: Organization, currency_code: str, now: datetime
) -> Invoice:

    # The customer's own terms, else its billing entity's, else the organization's.
    in_force = billing_entities.customer_settings(session, customer)
    day = local_date(now, timezone=in_force.timezone)
    term = in_force.net_payment_term
    invoice = Invoice(
        id=new_id(),
        organization_id=org.id,
        customer_id=customer.id,
        invoice_type=ONE_OFF,
        status="draft",
        payment_status="pending",
        currency=currency_code,
        issuing_date=local_midnight(day, timezone="UTC"),
        payment_due_date=local_midnight(day + timedelta(days=term), timezone="UTC"),
        net_payment_term=term,
        breakdown={},
        invoice_metadata=[],
        created_at=now,
        updated_at=now,
    )
    session.add(invoice)
    session.flush()
    return invoice


def _fee(
    invoice: Invoice,
    add_on: AddOnRow,
    data: OneOffFeeInput,
    *,
    position: int,
    tax_codes: list[str],
    now: datetime,
) -> Fee:
    if data.unit_amount_cents is not None and data.unit_amount_cents < 0:
        raise ValidationFailed.field("unit_amount_cents", "value_is_invalid")
    unit_cents = (
        data.unit_amount_cents if data.unit_amount_cents is not None else add_on.amount_cents
    )
    units = _units(data.units)
    precise = Decimal(unit_cents) * units
    cur = currency(invoice.currency)
    display = data.invoice_display_name or add_on.invoice_display_name or add_on.name
    return Fee(
        id=new_id(),
        organization_id=invoice.organization_id,
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        add_on_id=add_on.id,
        position=position,
        fee_type="add_on",
        item={
            "type": "add_on",
            "code": add_on.code,
            "name": add_on.name,
            "description": add_on.description,
            "invoice_display_name": display,
            "fee_description": data.description or add_on.description,
            "filters": None,
            "filter_invoice_display_name": None,
            "lago_item_id": add_on.id,
            "item_type": "AddOn",
            "grouped_by": {},
        },
        pay_in_advance=False,
        invoiceable=True,
        currency=invoice.currency,
        amount_cents=round_cents(precise, FEE_ROUNDING),
        precise_amount_cents=precise,
        unit_amount_cents=unit_cents,
        precise_unit_amount=Decimal(unit_cents) / cur.subunit_to_unit,
        units=units,
        amount_details={},
        explanation=[],
        # The resolved tax codes, so a later recomputation can find them again.
        properties={"tax_codes": tax_codes},
        applied_taxes=[],
        payment_status="pending",
        from_datetime=data.from_datetime or now,
        to_datetime=data.to_datetime or now,
        created_at=now,
        updated_at=now,
    )
