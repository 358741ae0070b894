"""Dashboard wallet forms: a customer's wallets, creating one, topping it up (paid or
granted credits), voiding credits, recurring top-up rules, and terminating it.

Role rule: finance may do all of it (every path names `wallets`, see
`auth.SECTION_PERMISSIONS`); viewers read. Each form goes through
`services.credits.wallets`, as `POST /wallets` and `POST /wallet_transactions` do: paid
credits are invoiced (a credit invoice), granted ones are free.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, NotFound, ValidationFailed
from meterly.services.accounts import applicable_timezone
from meterly.services.accounts import customers as customer_service
from meterly.services.credits import wallets as wallet_service
from meterly.store.tables import Customer
from meterly.store.tables_wallets import Wallet
from meterly.web import auth
from meterly.web.dashboard import form_kit
from meterly.web.dashboard.common import PER_PAGE, _int, _not_found, _page, section_router

router = section_router()

INTERVALS = ("weekly", "monthly", "quarterly", "semiannual", "yearly")


def _credits(data: dict[str, str], name: str) -> Decimal | None:
    return wallet_service.credits_field(form_kit.text(data, name), name)


def _customer(session: Session, who: auth.Operator, external_id: str) -> Customer:
    return customer_service.find(
        session, organization_id=who.organization_id, external_id=external_id
    )


# --- a customer's wallets -------------------------------------------------------------------


def _wallets_page(
    request: Request,
    who: auth.Operator,
    session: Session,
    customer: Customer,
    values: dict[str, Any],
    errors: list[str],
) -> Response:
    page = _int(request.query_params.get("page"))
    rows, total = wallet_service.list_page(
        session,
        organization_id=who.organization_id,
        page=page,
        per_page=PER_PAGE,
        external_customer_id=customer.external_id,
        currency_code=request.query_params.get("currency") or None,
    )
    zone = applicable_timezone(session, customer)
    return _page(
        request,
        who,
        "dashboard/wallets.html",
        status_code=422 if errors else 200,
        customer=customer,
        wallets=rows,
        total=total,
        page=page,
        pages=form_kit.pages(total, PER_PAGE),
        timezone=zone,
        in_zone=form_kit.in_zone,
        values=values,
        errors=errors,
        message=request.query_params.get("message"),
    )


@router.get("/customers/{external_id}/wallets")
def customer_wallets(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed them in
    with unit_of_work(request) as session:
        try:
            customer = _customer(session, who, external_id)
        except NotFound:
            return _not_found(request, who, "customer")
        values = {"currency": customer.currency or "", "rate_amount": "1"}
        return _wallets_page(request, who, session, customer, values, [])


@router.post("/customers/{external_id}/wallets/new")
async def create_wallet(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            customer = _customer(session, who, external_id)
            zone = applicable_timezone(session, customer)
            rate = form_kit.decimal(data, "rate_amount")
            row, _ = wallet_service.create(
                session,
                organization_id=who.organization_id,
                data=wallet_service.WalletInput(
                    external_customer_id=external_id,
                    rate_amount=rate,
                    currency=(form_kit.text(data, "currency") or "").upper() or None,
                    name=form_kit.text(data, "name"),
                    code=form_kit.text(data, "code"),
                    paid_credits=_credits(data, "paid_credits"),
                    granted_credits=_credits(data, "granted_credits"),
                    expiration_at=form_kit.local_datetime(data, "expiration_at", zone),
                    sent=frozenset(k for k, v in data.items() if v),
                ),
                clock=clock(request),
            )
            wallet_id = row.id
    except NotFound as exc:
        if exc.resource == "customer":
            return _not_found(request, who, "customer")
        return _refused_create(request, who, external_id, data, exc)
    except DomainError as exc:
        return _refused_create(request, who, external_id, data, exc)
    return form_kit.to_page(f"/dashboard/wallets/{wallet_id}", "Wallet created.")


def _refused_create(
    request: Request, who: auth.Operator, external_id: str, data: dict[str, str], exc: DomainError
) -> Response:
    with unit_of_work(request) as session:
        customer = _customer(session, who, external_id)
        return _wallets_page(
            request, who, session, customer, form_kit.kept(data), form_kit.sentences(exc)
        )


# --- one wallet -----------------------------------------------------------------------------


def _wallet(session: Session, who: auth.Operator, wallet_id: str) -> Wallet:
    return wallet_service.find(session, organization_id=who.organization_id, wallet_id=wallet_id)


def _wallet_page(
    request: Request, who: auth.Operator, session: Session, row: Wallet, errors: list[str]
) -> Response:
    page = _int(request.query_params.get("page"))
    kind = request.query_params.get("transaction_status") or None
    try:
        transactions, total = wallet_service.list_transactions(
            session,
            wallet=row,
            page=page,
            per_page=PER_PAGE,
            filters=wallet_service.TransactionFilters(transaction_status=kind),
        )
    except ValidationFailed:
        transactions, total = [], 0
    customer = wallet_service.customer_of(session, row)
    return _page(
        request,
        who,
        "dashboard/wallet.html",
        status_code=422 if errors else 200,
        wallet=row,
        customer=customer,
        rules=[r for r in wallet_service.rules_of(session, row) if r.status == "active"],
        transactions=transactions,
        total=total,
        page=page,
        pages=form_kit.pages(total, PER_PAGE),
        kind=kind or "",
        kinds=wallet_service.TRANSACTION_STATUSES,
        intervals=INTERVALS,
        timezone=applicable_timezone(session, customer),
        in_zone=form_kit.in_zone,
        errors=errors,
        message=request.query_params.get("message"),
    )


@router.get("/wallets/{wallet_id}")
def wallet(wallet_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    with unit_of_work(request) as session:
        try:
            row = _wallet(session, who, wallet_id)
        except NotFound:
            return _not_found(request, who, "wallet")
        return _wallet_page(request, who, session, row, [])


async def _act(request: Request, wallet_id: str, action: Any, done: str) -> Response:
    """Run one change on the wallet; on a refusal, the wallet page says why."""
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = _wallet(session, who, wallet_id)
            message = action(session, row, data) or done
    except NotFound as exc:
        if exc.resource == "wallet":
            return _not_found(request, who, "wallet")
        return _refused(request, who, wallet_id, exc)
    except DomainError as exc:
        return _refused(request, who, wallet_id, exc)
    return form_kit.to_page(f"/dashboard/wallets/{quote(wallet_id, safe='')}", message)


def _refused(request: Request, who: auth.Operator, wallet_id: str, exc: DomainError) -> Response:
    with unit_of_work(request) as session:
        row = _wallet(session, who, wallet_id)
        return _wallet_page(request, who, session, row, form_kit.sentences(exc))


@router.post("/wallets/{wallet_id}/top_up")
async def top_up(wallet_id: str, request: Request) -> Response:
    def run(session: Session, row: Wallet, data: dict[str, str]) -> str:
        paid, granted = _credits(data, "paid_credits"), _credits(data, "granted_credits")
        if not paid and not granted:
            raise ValidationFailed.field("paid_credits", "value_is_mandatory")
        wallet_service.create_transactions(
            session,
            organization_id=row.organization_id,
            data=wallet_service.TransactionInput(
                wallet_id=row.id,
                paid_credits=paid,
                granted_credits=granted,
                name=form_kit.text(data, "name"),
            ),
            clock=clock(request),
        )
        parts = []
        if paid:
            # Lago credits paid credits at once unless the wallet waits for the payment.
            when = (
                "credited once their invoice is paid"
                if row.invoice_requires_successful_payment
                else "credited now and invoiced"
            )
            parts.append(f"{paid} paid credits ({when})")
        if granted:
            parts.append(f"{granted} granted credits")
        return "Top-up recorded: " + " and ".join(parts) + "."

    return await _act(request, wallet_id, run, "Top-up recorded.")


@router.post("/wallets/{wallet_id}/void")
async def void_credits(wallet_id: str, request: Request) -> Response:
    def run(session: Session, row: Wallet, data: dict[str, str]) -> str:
        voided = _credits(data, "voided_credits")
        if not voided:
            raise ValidationFailed.field("voided_credits", "value_is_mandatory")
        wallet_service.create_transactions(
            session,
            organization_id=row.organization_id,
            data=wallet_service.TransactionInput(wallet_id=row.id, voided_credits=voided),
            clock=clock(request),
        )
        return f"{voided} credits voided."

    return await _act(request, wallet_id, run, "Credits voided.")


def _kept_rules(session: Session, row: Wallet, *, drop: str | None) -> list[Any]:
    # An update replaces the rule list: the rules kept are named by their id.
    return [
        wallet_service.RuleInput(lago_id=r.id)
        for r in wallet_service.rules_of(session, row)
        if r.status == "active" and r.id != drop
    ]


@router.post("/wallets/{wallet_id}/rules")
async def add_rule(wallet_id: str, request: Request) -> Response:
    def run(session: Session, row: Wallet, data: dict[str, str]) -> str:
        trigger = form_kit.text(data, "trigger")
        method = form_kit.text(data, "method") or "fixed"
        rule = wallet_service.RuleInput(
            trigger=trigger,
            interval=form_kit.text(data, "interval") if trigger == "interval" else None,
            method=method,
            threshold_credits=_credits(data, "threshold_credits")
            if trigger == "threshold"
            else None,
            paid_credits=_credits(data, "paid_credits"),
            granted_credits=_credits(data, "granted_credits"),
            target_ongoing_balance=_credits(data, "target_ongoing_balance")
            if method == "target"
            else None,
        )
        wallet_service.update(
            session,
            wallet=row,
            data=wallet_service.WalletInput(
                recurring_transaction_rules=(*_kept_rules(session, row, drop=None), rule)
            ),
            clock=clock(request),
        )
        return "Recurring top-up rule added."

    return await _act(request, wallet_id, run, "Rule added.")


@router.post("/wallets/{wallet_id}/rules/{rule_id}/remove")
async def remove_rule(wallet_id: str, rule_id: str, request: Request) -> Response:
    def run(session: Session, row: Wallet, data: dict[str, str]) -> str:
        wallet_service.update(
            session,
            wallet=row,
            data=wallet_service.WalletInput(
                recurring_transaction_rules=tuple(_kept_rules(session, row, drop=rule_id))
            ),
            clock=clock(request),
        )
        return "Recurring top-up rule removed."

    return await _act(request, wallet_id, run, "Rule removed.")


@router.post("/wallets/{wallet_id}/terminate")
async def terminate(wallet_id: str, request: Request) -> Response:
    def run(session: Session, row: Wallet, data: dict[str, str]) -> str:
        wallet_service.terminate(session, wallet=row, clock=clock(request))
        return "Wallet terminated: it pays no more invoices and takes no more credits."

    return await _act(request, wallet_id, run, "Wallet terminated.")
