"""Dashboard credit forms: coupons (create, apply to a customer, remove) and credit notes
from an invoice, with Lago's estimate before anything is stored.

Role rule: finance may do all of it (the paths name `coupons`, `applied_coupons` and
`credit_notes`, see `auth.SECTION_PERMISSIONS`); viewers read. Wallets live beside this,
in `wallet_forms`. Each form goes through the service the API uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, NotFound, ValidationFailed
from meterly.services.accounts import customers as customer_service
from meterly.services.billing import invoices as invoice_service
from meterly.services.catalog import plans as plan_service
from meterly.services.credits import coupons as coupon_service
from meterly.services.credits import credit_notes as note_service
from meterly.store.tables import Customer, Invoice
from meterly.store.tables_coupons import CouponRow
from meterly.web import auth
from meterly.web.dashboard import form_kit
from meterly.web.dashboard.common import PER_PAGE, _int, _not_found, _page, section_router
from meterly.web.templating import money

router = section_router()

COUPON_TYPES = (("fixed_amount", "a fixed amount"), ("percentage", "a percentage"))
FREQUENCIES = (
    ("once", "once"),
    ("recurring", "for a number of billing periods"),
    ("forever", "on every invoice"),
)


# --- coupons ------------------------------------------------------------------------------


def _coupons_page(
    request: Request,
    who: auth.Operator,
    session: Session,
    values: dict[str, Any],
    errors: list[str],
) -> Response:
    page = _int(request.query_params.get("page"))
    status = request.query_params.get("status", "")
    rows, _ = coupon_service.list_page(
        session, organization_id=who.organization_id, page=1, per_page=10_000
    )
    if status in ("active", "terminated"):  # the service pages without a status filter
        rows = [r for r in rows if r.status == status]
    plans, _ = plan_service.list_page(
        session, organization_id=who.organization_id, page=1, per_page=500
    )
    return _page(
        request,
        who,
        "dashboard/coupons.html",
        status_code=422 if errors else 200,
        coupons=rows[(page - 1) * PER_PAGE : page * PER_PAGE],
        total=len(rows),
        status=status,
        page=page,
        pages=form_kit.pages(len(rows), PER_PAGE),
        plans=plans,
        coupon_types=COUPON_TYPES,
        frequencies=FREQUENCIES,
        values=values,
        errors=errors,
        message=request.query_params.get("message"),
    )


@router.get("/coupons")
def coupons(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed them in
    with unit_of_work(request) as session:
        values = {"coupon_type": "fixed_amount", "frequency": "once", "amount_currency": "USD"}
        return _coupons_page(request, who, session, values, [])


def _expiration(data: dict[str, str]) -> datetime | None:
    """The last day a coupon can be applied, to its end (Lago: `expiration_at`, UTC)."""
    day = form_kit.text(data, "expiration_date")
    if day is None:
        return None
    try:
        parsed = datetime.fromisoformat(day)
    except ValueError:
        raise ValidationFailed.field("expiration_at", "invalid_date") from None
    return parsed.replace(hour=23, minute=59, second=59, tzinfo=UTC)


def _coupon_input(data: dict[str, str]) -> coupon_service.CouponInput:
    kind = form_kit.text(data, "coupon_type")
    fixed = kind == "fixed_amount"
    currency = (form_kit.text(data, "amount_currency") or "").upper() or None
    expires = _expiration(data)
    plan_code = form_kit.text(data, "plan_code")
    fields: dict[str, Any] = {
        "name": form_kit.text(data, "name"),
        "code": form_kit.text(data, "code"),
        "description": form_kit.text(data, "description"),
        "coupon_type": kind,
        "amount_cents": form_kit.cents(data, "amount", currency, field="amount_cents")
        if fixed
        else None,
        "amount_currency": currency if fixed else None,
        "percentage_rate": None if fixed else form_kit.text(data, "percentage_rate"),
        "frequency": form_kit.text(data, "frequency"),
        "frequency_duration": form_kit.whole(data, "frequency_duration"),
        "expiration": "time_limit" if expires else "no_expiration",
        "expiration_at": expires,
        "reusable": data.get("reusable") == "on",
    }
    return coupon_service.CouponInput(
        **fields,
        plan_codes=(plan_code,) if plan_code else None,
        sent=frozenset(fields),
    )


@router.post("/coupons/new")
async def create_coupon(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = coupon_service.create(
                session,
                organization_id=who.organization_id,
                data=_coupon_input(data),
                clock=clock(request),
            )
            message = f"Coupon {row.name} created."
    except DomainError as exc:
        with unit_of_work(request) as session:
            return _coupons_page(
                request, who, session, form_kit.kept(data), form_kit.sentences(exc)
            )
    return form_kit.to_page("/dashboard/coupons", message)


# --- applying coupons to a customer ---------------------------------------------------------


def _customer(session: Session, who: auth.Operator, external_id: str) -> Customer:
    return customer_service.find(
        session, organization_id=who.organization_id, external_id=external_id
    )


def _applied_page(
    request: Request,
    who: auth.Operator,
    session: Session,
    customer: Customer,
    errors: list[str],
    values: dict[str, Any],
) -> Response:
    rows, _ = coupon_service.list_applied(
        session,
        organization_id=who.organization_id,
        filters=coupon_service.AppliedCouponFilters(external_customer_id=customer.external_id),
        page=1,
        per_page=500,
    )
    coupons_by_id = {
        c.id: c
        for c in coupon_service.list_page(
            session, organization_id=who.organization_id, page=1, per_page=10_000
        )[0]
    }
    return _page(
        request,
        who,
        "dashboard/applied_coupons.html",
        status_code=422 if errors else 200,
        customer=customer,
        applied=[(r, coupons_by_id.get(r.coupon_id)) for r in rows],
        remaining=coupon_service.remaining_amount_cents,
        coupons=[c for c in coupons_by_id.values() if c.status == "active"],
        errors=errors,
        values=values,
        message=request.query_params.get("message"),
    )


@router.get("/customers/{external_id}/applied_coupons")
def applied_coupons(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    with unit_of_work(request) as session:
        try:
            customer = _customer(session, who, external_id)
        except NotFound:
            return _not_found(request, who, "customer")
        return _applied_page(request, who, session, customer, [], {})


def _override(data: dict[str, str], coupon: CouponRow | None) -> dict[str, Any]:
    """The terms typed over the coupon's own (empty: the coupon's)."""
    if coupon is None:
        return {}
    if coupon.coupon_type == "fixed_amount":
        cents = form_kit.cents(data, "amount", coupon.amount_currency, field="amount_cents")
        return {"amount_cents": cents} if cents is not None else {}
    rate = form_kit.text(data, "percentage_rate")
    return {"percentage_rate": rate} if rate is not None else {}


@router.post("/customers/{external_id}/applied_coupons")
async def apply_coupon(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    code = form_kit.text(data, "coupon_code")
    try:
        with unit_of_work(request) as session:
            _customer(session, who, external_id)
            if code is None:
                raise ValidationFailed.field("coupon", "value_is_mandatory")
            coupon = coupon_service.find(session, organization_id=who.organization_id, code=code)
            coupon_service.apply(
                session,
                organization_id=who.organization_id,
                data=coupon_service.AppliedCouponInput(
                    external_customer_id=external_id,
                    coupon_code=code,
                    **_override(data, coupon),
                ),
                clock=clock(request),
            )
            message = f"Coupon {coupon.name} applied to {external_id}."
    except NotFound as exc:
        if exc.resource == "customer":
            return _not_found(request, who, "customer")
        return _refused_apply(request, who, external_id, data, exc)
    except DomainError as exc:
        return _refused_apply(request, who, external_id, data, exc)
    return form_kit.to_page(
        f"/dashboard/customers/{quote(external_id, safe='')}/applied_coupons", message
    )


def _refused_apply(
    request: Request, who: auth.Operator, external_id: str, data: dict[str, str], exc: DomainError
) -> Response:
    with unit_of_work(request) as session:
        customer = _customer(session, who, external_id)
        return _applied_page(
            request, who, session, customer, form_kit.sentences(exc), form_kit.kept(data)
        )


@router.post("/customers/{external_id}/applied_coupons/{applied_coupon_id}/terminate")
async def remove_coupon(external_id: str, applied_coupon_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    with unit_of_work(request) as session:
        try:
            row = coupon_service.find_applied(
                session,
                organization_id=who.organization_id,
                external_customer_id=external_id,
                applied_coupon_id=applied_coupon_id,
            )
        except NotFound:
            return _not_found(request, who, "applied coupon")
        coupon_service.terminate_applied(session, row=row, clock=clock(request))
    return form_kit.to_page(
        f"/dashboard/customers/{quote(external_id, safe='')}/applied_coupons",
        "Coupon removed: it gives no further discount.",
    )


# --- credit notes -------------------------------------------------------------------------


@router.get("/credit_notes")
def credit_notes(request: Request) -> Response:
    """Every credit note, newest first; filtered by customer, searched by number."""
    who = auth.operator(request)
    assert who is not None
    customer = request.query_params.get("customer", "").strip()
    q = request.query_params.get("q", "").strip().lower()
    page = _int(request.query_params.get("page"))
    with unit_of_work(request) as session:
        try:
            rows, _ = note_service.list_page(
                session,
                organization_id=who.organization_id,
                page=1,
                per_page=10_000,
                external_customer_id=customer or None,
            )
        except NotFound:
            rows = []
        if q:  # the service pages without a search: searched here, on the number
            rows = [r for r in rows if q in r.number.lower()]
        customers = {
            c.id: c
            for c in customer_service.list_page(
                session, organization_id=who.organization_id, page=1, per_page=10_000
            )[0]
        }
        return _page(
            request,
            who,
            "dashboard/credit_notes.html",
            notes=rows[(page - 1) * PER_PAGE : page * PER_PAGE],
            customers=customers,
            total=len(rows),
            customer=customer,
            q=q,
            page=page,
            pages=form_kit.pages(len(rows), PER_PAGE),
        )


@dataclass(frozen=True)
class CreditableLine:
    fee_id: str
    name: str
    amount_cents: int
    creditable_cents: int


def _invoice(session: Session, who: auth.Operator, invoice_id: str) -> Invoice:
    return invoice_service.find(session, organization_id=who.organization_id, invoice_id=invoice_id)


def _lines(session: Session, invoice: Invoice) -> list[CreditableLine]:
    state = note_service.invoice_state(session, invoice)
    by_id = {f.id: f for f in invoice.fees}
    return [
        CreditableLine(
            fee_id=f.id,
            name=str(
                by_id[f.id].item.get("invoice_display_name")
                or by_id[f.id].item.get("name")
                or f.fee_type
            ),
            amount_cents=f.amount_cents,
            creditable_cents=f.creditable_amount_cents,
        )
        for f in state.fees
    ]


def _items(
    data: dict[str, str], lines: list[CreditableLine], currency: str
) -> tuple[note_service.ItemInput, ...]:
    items = []
    for line in lines:
        cents = form_kit.cents(data, f"fee:{line.fee_id}", currency, field="amount_cents")
        if cents:
            items.append(note_service.ItemInput(fee_id=line.fee_id, amount_cents=cents))
    return tuple(items)


@router.get("/invoices/{invoice_id}/credit_notes/new")
@auth.requires("credit_notes")  # a form only they may send
def credit_note_form(invoice_id: str, request: Request) -> Response:
    """The fees one may credit; with amounts in the query, Lago's estimate of the note."""
    who = auth.operator(request)
    assert who is not None
    values = dict(request.query_params)
    errors: list[str] = []
    with unit_of_work(request) as session:
        try:
            invoice = _invoice(session, who, invoice_id)
        except NotFound:
            return _not_found(request, who, "invoice")
        lines = _lines(session, invoice)
        estimate = None
        try:
            items = _items(values, lines, invoice.currency)
            if items:
                _, estimate = note_service.estimate(
                    session, organization_id=who.organization_id, invoice_id=invoice.id, items=items
                )
            elif values.get("estimate"):
                errors = ["Type an amount to credit on at least one fee."]
        except DomainError as exc:
            errors = form_kit.sentences(exc)
        return _note_page(request, who, invoice, lines, values, errors, estimate)


def _note_page(
    request: Request,
    who: auth.Operator,
    invoice: Invoice,
    lines: list[CreditableLine],
    values: dict[str, Any],
    errors: list[str],
    estimate: Any,
) -> Response:
    return _page(
        request,
        who,
        "dashboard/credit_note_form.html",
        status_code=422 if errors else 200,
        invoice=invoice,
        lines=lines,
        values=values,
        errors=errors,
        estimate=estimate,
        reasons=note_service.REASONS,
    )


@router.post("/invoices/{invoice_id}/credit_notes/new")
async def create_credit_note(invoice_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            invoice = _invoice(session, who, invoice_id)
            code = invoice.currency
            items = _items(data, _lines(session, invoice), code)
            split = {
                name: form_kit.cents(data, name, code, field=f"{name}_amount_cents") or 0
                for name in ("credit", "refund", "offset")
            }
            note = note_service.create(
                session,
                organization_id=who.organization_id,
                data=note_service.CreditNoteInput(
                    invoice_id=invoice.id,
                    items=items,
                    reason=form_kit.text(data, "reason"),
                    description=form_kit.text(data, "description"),
                    credit_amount_cents=split["credit"],
                    refund_amount_cents=split["refund"],
                    offset_amount_cents=split["offset"],
                ),
                clock=clock(request),
            )
            message = (
                f"Credit note {note.number} issued: "
                f"{money(note.total_amount_cents, code)} back to the customer."
            )
    except NotFound as exc:
        if exc.resource == "invoice":
            return _not_found(request, who, "invoice")
        return _refused_note(request, who, invoice_id, data, exc)
    except DomainError as exc:
        return _refused_note(request, who, invoice_id, data, exc)
    return form_kit.to_page(f"/dashboard/invoices/{quote(invoice_id, safe='')}", message)


def _refused_note(
    request: Request, who: auth.Operator, invoice_id: str, data: dict[str, str], exc: DomainError
) -> Response:
    with unit_of_work(request) as session:
        invoice = _invoice(session, who, invoice_id)
        lines = _lines(session, invoice)
        return _note_page(
            request, who, invoice, lines, form_kit.kept(data), form_kit.sentences(exc), None
        )
