"""Dashboard subscription pages: the list, and the forms to subscribe a customer, change a
plan (with the proration preview), schedule a downgrade, and terminate.

A plan change follows Lago's rule (`services.subscriptions`): a dearer plan (by its yearly
amount) replaces the old one at once, and the change is invoiced now; a cheaper one waits
for the end of the current period as a pending subscription (a scheduled downgrade). The
preview is the invoice `services.preview` computes by billing the change in a session
that is rolled back, exactly what `POST /api/v1/invoices/preview` answers.

Role rule: subscriptions are admin work (the paths name no finance section).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import clock, database, unit_of_work
from meterly.domain.errors import DomainError, NotFound, ValidationFailed
from meterly.domain.subscription_fee import is_upgrade, yearly_amount_cents
from meterly.services import preview
from meterly.services import subscriptions as subscription_service
from meterly.services.accounts import applicable_timezone
from meterly.services.accounts import customers as customer_service
from meterly.services.catalog import plans as plan_service
from meterly.store.tables import Customer, Invoice, Plan, Subscription
from meterly.web import auth
from meterly.web.dashboard import form_kit
from meterly.web.dashboard.common import PER_PAGE, _int, _not_found, _page, section_router

router = section_router()

STATUSES = ("active", "pending", "incomplete", "terminated", "canceled")


def _plans(session: Session, who: auth.Operator) -> list[Plan]:
    rows, _ = plan_service.list_page(
        session, organization_id=who.organization_id, page=1, per_page=500
    )
    return rows


def _timezone(session: Session, customer: Customer) -> str:
    return applicable_timezone(session, customer)


@router.get("/subscriptions")
def subscriptions(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed them in
    params = request.query_params
    status = params.get("status", "active")
    customer = params.get("customer", "").strip()
    plan_code = params.get("plan", "").strip()
    page = _int(params.get("page"))
    with unit_of_work(request) as session:
        try:
            rows, total = subscription_service.list_page(
                session,
                organization_id=who.organization_id,
                page=page,
                per_page=PER_PAGE,
                external_customer_id=customer or None,
                plan_code=plan_code or None,
                statuses=[status] if status in STATUSES else list(STATUSES),
            )
        except NotFound:
            rows, total = [], 0
        zones = {r.id: _timezone(session, r.customer) for r in rows}
        return _page(
            request,
            who,
            "dashboard/subscriptions.html",
            subscriptions=rows,
            zones=zones,
            in_zone=form_kit.in_zone,
            total=total,
            status=status,
            statuses=STATUSES,
            customer=customer,
            plan=plan_code,
            plans=_plans(session, who),
            page=page,
            pages=form_kit.pages(total, PER_PAGE),
        )


# --- subscribing a customer ---------------------------------------------------------------


def _find_customer(session: Session, who: auth.Operator, external_id: str) -> Customer:
    return customer_service.find(
        session, organization_id=who.organization_id, external_id=external_id
    )


def _new_form(
    request: Request,
    who: auth.Operator,
    session: Session,
    customer: Customer,
    values: dict[str, Any],
    errors: list[str],
) -> Response:
    return _page(
        request,
        who,
        "dashboard/subscription_form.html",
        status_code=422 if errors else 200,
        customer=customer,
        timezone=_timezone(session, customer),
        plans=_plans(session, who),
        values=values,
        errors=errors,
    )


@router.get("/customers/{external_id}/subscriptions/new")
@auth.requires("admin")  # a form only they may send
def new_subscription(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    with unit_of_work(request) as session:
        try:
            customer = _find_customer(session, who, external_id)
        except NotFound:
            return _not_found(request, who, "customer")
        values = {"billing_time": "calendar", "external_id": f"sub_{external_id}"}
        return _new_form(request, who, session, customer, values, [])


@router.post("/customers/{external_id}/subscriptions/new")
async def create_subscription(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            customer = _find_customer(session, who, external_id)
            zone = _timezone(session, customer)
            subscription_id = form_kit.text(data, "external_id")
            if subscription_id and subscription_service.active(
                session, organization_id=who.organization_id, external_id=subscription_id
            ):
                # The API would read this as a plan change; a new subscription must not.
                raise ValidationFailed.field("external_id", "value_already_exist")
            row = subscription_service.create(
                session,
                organization_id=who.organization_id,
                data=subscription_service.SubscriptionInput(
                    external_customer_id=external_id,
                    plan_code=form_kit.text(data, "plan_code"),
                    external_id=subscription_id,
                    name=form_kit.text(data, "name"),
                    billing_time=form_kit.text(data, "billing_time"),
                    subscription_at=form_kit.local_datetime(data, "subscription_at", zone),
                    ending_at=form_kit.local_datetime(data, "ending_at", zone),
                ),
                clock=clock(request),
            )
            message = (
                f"Subscription {row.external_id} to {row.plan.name} started."
                if row.status == "active"
                else f"Subscription {row.external_id} to {row.plan.name} will start on "
                f"{form_kit.in_zone(row.subscription_at, zone)}."
            )
    except NotFound as exc:
        if exc.resource == "customer":
            return _not_found(request, who, "customer")
        return _refused_new(request, who, external_id, data, exc)
    except DomainError as exc:
        return _refused_new(request, who, external_id, data, exc)
    return form_kit.to_page(f"/dashboard/customers/{quote(external_id, safe='')}", message)


def _refused_new(
    request: Request, who: auth.Operator, external_id: str, data: dict[str, str], exc: DomainError
) -> Response:
    with unit_of_work(request) as session:
        customer = _find_customer(session, who, external_id)
        return _new_form(
            request, who, session, customer, form_kit.kept(data), form_kit.sentences(exc)
        )


# --- changing the plan ----------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewLine:
    name: str
    units: str
    amount_cents: int


@dataclass(frozen=True)
class ChangePreview:
    """What a plan change would do, read before the preview's session is rolled back."""

    upgrade: bool
    effective: str  # when the new plan starts, in the customer's time zone
    invoice_currency: str | None
    lines: tuple[PreviewLine, ...]
    sub_total_cents: int | None
    taxes_cents: int | None
    total_cents: int | None


def _preview_lines(invoice: Invoice) -> tuple[PreviewLine, ...]:
    return tuple(
        PreviewLine(
            name=str(f.item.get("invoice_display_name") or f.item.get("name") or f.fee_type),
            units=str(f.units),
            amount_cents=f.amount_cents,
        )
        for f in invoice.fees
    )


def _change_preview(
    request: Request, who: auth.Operator, sub_external_id: str, plan_code: str
) -> ChangePreview:
    # Never committed: the change, its invoice and its number are rolled back (the API's
    # preview route does the same).
    with database(request).sessions() as session:
        try:
            current = subscription_service.find(
                session,
                organization_id=who.organization_id,
                external_id=sub_external_id,
                status="active",
            )
            new_plan = plan_service.find(
                session, organization_id=who.organization_id, code=plan_code
            )
            zone = _timezone(session, current.customer)
            upgrade = is_upgrade(
                old_yearly_amount_cents=yearly_amount_cents(
                    current.plan.amount_cents, current.plan.interval
                ),
                new_yearly_amount_cents=yearly_amount_cents(
                    new_plan.amount_cents, new_plan.interval
                ),
            )
            now = clock(request).now()
            period = subscription_service.current_period(session, current, at=now)
            starts: datetime = now if upgrade or period is None else period.end_exclusive
            try:
                invoice: Invoice | None = preview.preview_invoice(
                    session,
                    organization_id=who.organization_id,
                    request=preview.PreviewRequest(
                        customer_external_id=current.customer.external_id,
                        subscription_external_ids=(sub_external_id,),
                        subscriptions_plan_code=plan_code,
                    ),
                    clock=clock(request),
                )
            except NotFound:
                invoice = None  # nothing to invoice (no boundary ahead)
            session.flush()
            return ChangePreview(
                upgrade=upgrade,
                effective=form_kit.in_zone(starts, zone),
                invoice_currency=invoice.currency if invoice else None,
                lines=_preview_lines(invoice) if invoice else (),
                sub_total_cents=invoice.sub_total_excluding_taxes_amount_cents if invoice else None,
                taxes_cents=invoice.taxes_amount_cents if invoice else None,
                total_cents=invoice.total_amount_cents if invoice else None,
            )
        finally:
            session.rollback()


@router.get("/subscriptions/{external_id}/plan")
@auth.requires("admin")  # a form only they may send
def change_plan_form(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    plan_code = request.query_params.get("plan_code", "").strip()
    errors: list[str] = []
    change: ChangePreview | None = None
    with unit_of_work(request) as session:
        try:
            sub = subscription_service.find(
                session,
                organization_id=who.organization_id,
                external_id=external_id,
                status="active",
            )
        except NotFound:
            return _not_found(request, who, "subscription")
        customer = sub.customer
        pending = subscription_service.next_subscription(session, sub)
        plans = [p for p in _plans(session, who) if p.id != sub.plan.id]
        current_plan = sub.plan
        zone = _timezone(session, customer)
        pending_start = form_kit.in_zone(pending.started_at, zone) if pending else None
    if plan_code:
        if plan_code == current_plan.code:
            errors = ["The subscription is already on this plan."]
        else:
            try:
                change = _change_preview(request, who, external_id, plan_code)
            except DomainError as exc:
                errors = form_kit.sentences(exc)
    return _page(
        request,
        who,
        "dashboard/subscription_plan.html",
        status_code=422 if errors else 200,
        sub_external_id=external_id,
        customer=customer,
        current_plan=current_plan,
        pending=pending,
        pending_start=pending_start,
        plans=plans,
        plan_code=plan_code,
        change=change,
        errors=errors,
        message=request.query_params.get("message"),
    )


@router.post("/subscriptions/{external_id}/plan")
async def change_plan(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    plan_code = form_kit.text(data, "plan_code") or ""
    try:
        with unit_of_work(request) as session:
            sub = subscription_service.find(
                session,
                organization_id=who.organization_id,
                external_id=external_id,
                status="active",
            )
            customer_id = sub.customer.external_id
            zone = _timezone(session, sub.customer)
            result = subscription_service.create(
                session,
                organization_id=who.organization_id,
                data=subscription_service.SubscriptionInput(
                    external_customer_id=customer_id,
                    plan_code=plan_code,
                    external_id=external_id,
                ),
                clock=clock(request),
            )
            scheduled = subscription_service.next_subscription(session, result)
            if result.plan.code == plan_code:
                message = f"Plan changed to {result.plan.name} now; the change is invoiced."
            elif scheduled is not None:
                message = (
                    f"Downgrade to {scheduled.plan.name} scheduled for "
                    f"{form_kit.in_zone(scheduled.started_at, zone)}."
                )
            else:
                message = "The plan is unchanged."
    except DomainError as exc:
        query = f"?plan_code={quote(plan_code)}" if plan_code else ""
        return form_kit.to_page(
            f"/dashboard/subscriptions/{quote(external_id, safe='')}/plan{query}",
            " ".join(form_kit.sentences(exc)),
        )
    return form_kit.to_page(f"/dashboard/customers/{quote(customer_id, safe='')}", message)


# --- terminating ----------------------------------------------------------------------------


def _find_for_termination(
    session: Session, who: auth.Operator, external_id: str, status: str | None
) -> Subscription:
    return subscription_service.find(
        session,
        organization_id=who.organization_id,
        external_id=external_id,
        status=status if status in ("active", "pending") else "active",
    )


@router.get("/subscriptions/{external_id}/terminate")
@auth.requires("admin")  # a form only they may send
def terminate_form(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    status = request.query_params.get("status")
    with unit_of_work(request) as session:
        try:
            sub = _find_for_termination(session, who, external_id, status)
        except NotFound:
            return _not_found(request, who, "subscription")
        return _page(
            request,
            who,
            "dashboard/subscription_terminate.html",
            sub=sub,
            customer=sub.customer,
            pay_in_advance=sub.plan.pay_in_advance,
            credit_notes=subscription_service.TERMINATION_CREDIT_NOTES,
            errors=[],
        )


@router.post("/subscriptions/{external_id}/terminate")
async def terminate(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            sub = _find_for_termination(session, who, external_id, data.get("status"))
            customer_id = sub.customer.external_id
            subscription_service.terminate(
                session,
                sub=sub,
                clock=clock(request),
                on_termination_invoice=form_kit.text(data, "on_termination_invoice"),
                on_termination_credit_note=form_kit.text(data, "on_termination_credit_note"),
            )
            done = "canceled" if sub.status == "canceled" else "terminated"
    except NotFound:
        return _not_found(request, who, "subscription")
    except DomainError as exc:
        with unit_of_work(request) as session:
            sub = _find_for_termination(session, who, external_id, data.get("status"))
            return _page(
                request,
                who,
                "dashboard/subscription_terminate.html",
                status_code=422,
                sub=sub,
                customer=sub.customer,
                pay_in_advance=sub.plan.pay_in_advance,
                credit_notes=subscription_service.TERMINATION_CREDIT_NOTES,
                errors=form_kit.sentences(exc),
            )
    return form_kit.to_page(
        f"/dashboard/customers/{quote(customer_id, safe='')}",
        f"Subscription {external_id} {done}.",
    )
