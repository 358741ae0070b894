"""Dunning campaigns: chasing overdue balances on a schedule (Lago's auto dunning).

A campaign says when a customer's overdue balance is chased (a threshold per currency),
how often (`days_between_attempts`) and how many times (`max_attempts`). It applies to a
customer named explicitly, or to every customer not excluded when it is the
organization's default. Each attempt is a payment request of the customer's overdue
invoices (services/payments/payment_requests.py): a reminder e-mail, and a charge of each
invoice through the provider. The worker's pass (`run_once`) makes the attempts that are
due; a customer whose balance is paid starts again from nothing, and one whose attempts
are spent gets `dunning_campaign.finished` once the last delay has passed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.services import notifications
from meterly.services.accounts import customers
from meterly.services.billing import amount_due_cents
from meterly.services.common import Clock, new_id
from meterly.services.payments import payment_requests
from meterly.services.payments.port import SUCCEEDED
from meterly.store.clock_scope import in_scope
from meterly.store.tables import Customer, CustomerDunning, DunningCampaign, Invoice
from meterly.store.uow import Database

MAX_ATTEMPTS_LIMIT = 100


@dataclass(frozen=True, slots=True)
class CampaignInput:
    code: str
    name: str | None = None
    description: str | None = None
    applied_to_organization: bool | None = None
    days_between_attempts: int | None = None
    max_attempts: int | None = None
    thresholds: list[dict[str, Any]] | None = None
    bcc_emails: list[str] | None = None


def _thresholds(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    clean = []
    for item in raw:
        currency = str(item.get("currency") or "").upper()
        amount = item.get("amount_cents")
        if len(currency) != 3 or currency in seen:
            raise ValidationFailed.field("thresholds", "invalid_currency")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            raise ValidationFailed.field("thresholds", "invalid_amount")
        seen.add(currency)
        clean.append({"currency": currency, "amount_cents": amount})
    return clean


def _live(session: Session, organization_id: str) -> Select[DunningCampaign]:
    return select(DunningCampaign).where(
        DunningCampaign.organization_id == organization_id,
        DunningCampaign.deleted_at.is_(None),
    )


def save(
    session: Session, *, organization_id: str, data: CampaignInput, clock: Clock
) -> DunningCampaign:
    """Create a campaign or update the one with this code."""
    if not data.code.strip():
        raise ValidationFailed.field("code", "value_is_mandatory")
    row = session.scalar(_live(session, organization_id).where(DunningCampaign.code == data.code))
    errors: dict[str, list[str]] = {}
    if row is None:
        for name in ("name", "days_between_attempts", "max_attempts", "thresholds"):
            if getattr(data, name) is None:
                errors[name] = ["value_is_mandatory"]
    if data.days_between_attempts is not None and data.days_between_attempts < 1:
        errors["days_between_attempts"] = ["value_is_invalid"]
    if data.max_attempts is not None and not 1 <= data.max_attempts <= MAX_ATTEMPTS_LIMIT:
        errors["max_attempts"] = ["value_is_invalid"]
    if data.thresholds is not None and not data.thresholds:
        errors["thresholds"] = ["value_is_mandatory"]
    if errors:
        raise ValidationFailed(errors)
    thresholds = _thresholds(data.thresholds) if data.thresholds is not None else None
    now = clock.now()
    if row is None:
        row = DunningCampaign(
            id=new_id(),
            organization_id=organization_id,
            code=data.code,
            applied_to_organization=False,
            bcc_emails=[],
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    for name in ("name", "description", "days_between_attempts", "max_attempts", "bcc_emails"):
        value = getattr(data, name)
        if value is not None:
            setattr(row, name, value)
    if thresholds is not None:
        row.thresholds = thresholds
    if data.applied_to_organization is not None:
        if data.applied_to_organization:
            # One default per organization: the previous one steps down.
            for other in session.scalars(
                _live(session, organization_id).where(
                    DunningCampaign.applied_to_organization.is_(True),
                    DunningCampaign.id != row.id,
                )
            ):
                other.applied_to_organization = False
        row.applied_to_organization = data.applied_to_organization
    row.updated_at = now
    session.flush()
    return row


def find(session: Session, *, organization_id: str, code: str) -> DunningCampaign:
    row = session.scalar(_live(session, organization_id).where(DunningCampaign.code == code))
    if row is None:
        raise NotFound("dunning_campaign")
    return row


def list_campaigns(session: Session, *, organization_id: str) -> list[DunningCampaign]:
    return list(session.scalars(_live(session, organization_id).order_by(DunningCampaign.code)))


def delete(session: Session, *, organization_id: str, code: str, clock: Clock) -> DunningCampaign:
    """Soft delete; customers it was applied to follow the organization's default again."""
    row = find(session, organization_id=organization_id, code=code)
    row.deleted_at = clock.now()
    row.applied_to_organization = False
    for state in session.scalars(
        select(CustomerDunning).where(CustomerDunning.applied_campaign_id == row.id)
    ):
        state.applied_campaign_id = None
    session.flush()
    return row


# --- customers ---------------------------------------------------------------------------


def _state(session: Session, customer: Customer, clock: Clock) -> CustomerDunning:
    state = session.get(CustomerDunning, customer.id)
    if state is None:
        state = CustomerDunning(
            customer_id=customer.id,
            organization_id=customer.organization_id,
            excluded=False,
            attempts=0,
            finished=False,
            updated_at=clock.now(),
        )
        session.add(state)
        session.flush()
    return state


def assign(
    session: Session,
    *,
    organization_id: str,
    external_customer_id: str,
    campaign_code: str | None,
    excluded: bool,
    clock: Clock,
) -> CustomerDunning:
    """Apply a campaign to one customer, or exclude it, or (neither) follow the default.

    A change of campaign starts the count of attempts again, as Lago does.
    """
    customer = customers.find(
        session, organization_id=organization_id, external_id=external_customer_id
    )
    campaign = (
        find(session, organization_id=organization_id, code=campaign_code)
        if campaign_code
        else None
    )
    if campaign is not None and excluded:
        raise ValidationFailed.field("exclude_from_dunning_campaign", "value_is_invalid")
    state = _state(session, customer, clock)
    new_campaign = campaign.id if campaign else None
    if (state.applied_campaign_id, state.excluded) != (new_campaign, excluded):
        state.applied_campaign_id = new_campaign
        state.excluded = excluded
        _reset(state, clock)
    session.flush()
    return state


def state_of(session: Session, customer_id: str) -> CustomerDunning | None:
    return session.get(CustomerDunning, customer_id)


def _reset(state: CustomerDunning, clock: Clock) -> None:
    state.attempts = 0
    state.last_attempt_at = None
    state.finished = False
    state.updated_at = clock.now()


def campaign_for(
    session: Session, state: CustomerDunning | None, organization_id: str
) -> DunningCampaign | None:
    """The campaign that applies to a customer: its own, else the default unless excluded."""
    if state is not None and state.applied_campaign_id is not None:
        campaign = session.get(DunningCampaign, state.applied_campaign_id)
        return campaign if campaign is not None and campaign.deleted_at is None else None
    if state is not None and state.excluded:
        return None
    return session.scalar(
        _live(session, organization_id).where(DunningCampaign.applied_to_organization.is_(True))
    )


# --- the worker's pass -------------------------------------------------------------------


def _overdue_by_customer(session: Session) -> dict[str, list[Invoice]]:
    found: dict[str, list[Invoice]] = defaultdict(list)
    for invoice in session.scalars(
        select(Invoice)
        .where(
            Invoice.status == "finalized",
            Invoice.payment_status != SUCCEEDED,
            Invoice.payment_overdue.is_(True),
            in_scope(Invoice.customer_id),
        )
        .order_by(Invoice.customer_id, Invoice.payment_due_date, Invoice.id)
    ):
        found[invoice.customer_id].append(invoice)
    return found


def _due_currency(
    session: Session, campaign: DunningCampaign, invoices: list[Invoice]
) -> tuple[str, list[Invoice]] | None:
    """The first currency (by code) whose overdue balance reaches the campaign's threshold."""
    by_currency: dict[str, list[Invoice]] = defaultdict(list)
    for invoice in invoices:
        if amount_due_cents(session, invoice) > 0:
            by_currency[invoice.currency].append(invoice)
    thresholds = {t["currency"]: int(t["amount_cents"]) for t in campaign.thresholds}
    for currency in sorted(by_currency):
        owed = sum(amount_due_cents(session, i) for i in by_currency[currency])
        if currency in thresholds and owed >= thresholds[currency]:
            return currency, by_currency[currency]
    return None


def run_once(database: Database, *, clock: Clock) -> int:
    """One pass: reset paid customers, make the attempts due, finish spent campaigns.

    Each customer is handled in its own unit of work, so one failure stops nobody else.
    Returns the number of payment requests created.
    """
    with database.unit_of_work() as session:
        payment_requests.refresh_statuses(session, clock=clock)
        overdue = {k: [i.id for i in v] for k, v in _overdue_by_customer(session).items()}
        chased = list(
            session.scalars(
                select(CustomerDunning.customer_id).where(
                    CustomerDunning.attempts > 0, in_scope(CustomerDunning.customer_id)
                )
            )
        )
    created = 0
    for customer_id in sorted(set(overdue) | set(chased)):
        try:
            with database.unit_of_work() as session:
                created += _customer_pass(session, customer_id, overdue.get(customer_id, []), clock)
        except IntegrityError:
            # Another worker wrote this customer's dunning state first: its pass stands.
            continue
    return created


def _customer_pass(session: Session, customer_id: str, invoice_ids: list[str], clock: Clock) -> int:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.deleted_at is not None:
        return 0
    state = session.get(CustomerDunning, customer_id)
    invoices = [i for i in (session.get(Invoice, x) for x in invoice_ids) if i is not None]
    campaign = campaign_for(session, state, customer.organization_id)
    due = _due_currency(session, campaign, invoices) if campaign is not None else None
    if due is None:
        # Paid (or below the threshold): the next overdue balance starts from attempt one.
        if state is not None and state.attempts > 0:
            _reset(state, clock)
        return 0
    assert campaign is not None
    state = state or _state(session, customer, clock)
    now = clock.now()
    waited = state.last_attempt_at is None or now >= state.last_attempt_at + timedelta(
        days=campaign.days_between_attempts
    )
    if not waited:
        return 0
    currency, chased = due
    if state.attempts >= campaign.max_attempts:
        if not state.finished:
            state.finished = True
            state.updated_at = now
            _finished(session, customer, campaign, currency, chased, clock)
        return 0
    attempt = state.attempts + 1
    try:
        payment_requests.issue(
            session,
            customer=customer,
            invoices=chased,
            email=None,
            dunning=payment_requests.DunningAttempt(campaign_id=campaign.id, attempt=attempt),
            clock=clock,
        )
    except payment_requests.AttemptTaken:
        return 0  # another worker made this attempt
    state.attempts = attempt
    state.last_attempt_at = now
    state.updated_at = now
    session.flush()
    return 1


def _finished(
    session: Session,
    customer: Customer,
    campaign: DunningCampaign,
    currency: str,
    chased: list[Invoice],
    clock: Clock,
) -> None:
    owed = sum(amount_due_cents(session, i) for i in chased)
    notifications.enqueue(
        session,
        customer.organization_id,
        "dunning_campaign.finished",
        "dunning_campaign",
        campaign.id,
        clock,
        payload={
            "external_customer_id": customer.external_id,
            "dunning_campaign_code": campaign.code,
            "overdue_balance_cents": owed,
            "overdue_balance_currency": currency,
            "overdue_balances": [{"amount_cents": owed, "currency": currency}],
        },
    )
