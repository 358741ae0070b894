"""Collecting finalized invoices through the customer's provider, from the worker.

The durable trigger is the finalized invoice itself, committed by whatever finalized it:
`schedule_due` turns each unpaid invoice of a linked customer into a `charge_attempts`
row (unique per invoice and attempt, so two workers make one). `run_once` claims due
attempts with a lease, calls the provider outside any transaction with an idempotency key
per invoice and attempt (a job run again after a crash charges once), then records the
answer in a new unit of work. Nothing here runs inside an API request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import CursorResult, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterly.services.billing import amount_due_cents
from meterly.services.billing import invoices as invoice_service
from meterly.services.common import Clock, new_id
from meterly.services.payments import connections, ledger
from meterly.services.payments.port import (
    SUCCEEDED,
    ChargeResult,
    PaymentProvider,
    ProviderError,
)
from meterly.store.tables import (
    ChargeAttempt,
    Customer,
    Invoice,
    PaymentProviderConnection,
    ProviderCustomer,
)
from meterly.store.uow import Database

LEASE = timedelta(minutes=5)
# A provider that could not be reached is asked again after this delay (same attempt,
# same idempotency key: never a second charge).
UNREACHABLE_RETRY = timedelta(minutes=5)


def idempotency_key(invoice_id: str, attempt: int) -> str:
    return f"meterly-invoice-{invoice_id}-attempt-{attempt}"


def schedule_due(session: Session, *, clock: Clock, limit: int = 500) -> int:
    """A first attempt for each newly finalized, unpaid invoice of a linked customer."""
    attempted = exists().where(ChargeAttempt.invoice_id == Invoice.id)
    rows = session.execute(
        select(Invoice.id, Invoice.organization_id)
        .join(ProviderCustomer, ProviderCustomer.customer_id == Invoice.customer_id)
        .where(
            Invoice.status == "finalized",
            Invoice.payment_status == "pending",
            Invoice.total_amount_cents > 0,
            # Invoices finalized before the customer was linked are not charged by surprise.
            Invoice.finalized_at >= ProviderCustomer.created_at,
            ~attempted,
        )
        .limit(limit)
    ).all()
    created = 0
    for invoice_id, organization_id in rows:
        if _add_attempt(session, organization_id, invoice_id, 1, clock) is not None:
            created += 1
    return created


def _add_attempt(
    session: Session, organization_id: str, invoice_id: str, attempt: int, clock: Clock
) -> ChargeAttempt | None:
    now = clock.now()
    row = ChargeAttempt(
        id=new_id(),
        organization_id=organization_id,
        invoice_id=invoice_id,
        attempt=attempt,
        state="queued",
        run_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # another worker queued this attempt first
        return None
    return row


def request_retry(session: Session, *, invoice: Invoice, clock: Clock) -> ChargeAttempt | None:
    """`retry_payment`: a new attempt for an unpaid invoice of a linked customer.

    None when the customer has no provider (nothing to retry through) or an attempt is
    already waiting or running (one collection at a time per invoice).
    """
    invoice_service.check_payment_retry(invoice)
    if connections.find_link(session, customer_id=invoice.customer_id) is None:
        return None
    attempts = list(
        session.scalars(select(ChargeAttempt).where(ChargeAttempt.invoice_id == invoice.id))
    )
    if any(a.state != "done" for a in attempts):
        return None
    number = max((a.attempt for a in attempts), default=0) + 1
    return _add_attempt(session, invoice.organization_id, invoice.id, number, clock)


@dataclass(frozen=True, slots=True)
class ChargePlan:
    """A claimed attempt with everything the provider call needs (no ORM rows)."""

    attempt_id: str
    organization_id: str
    invoice_id: str
    invoice_number: str | None
    attempt: int
    amount_cents: int
    currency: str
    connection_id: str
    connection_code: str
    provider: PaymentProvider
    provider_customer_id: str | None
    sync_with_provider: bool
    customer_id: str
    external_customer_id: str
    customer_name: str | None
    customer_email: str | None


def claim(
    session: Session, *, keys: tuple[str, ...], clock: Clock, limit: int = 20
) -> list[ChargePlan]:
    """Lease due attempts (queued, or running with an expired lease) to this worker."""
    now = clock.now()
    due = session.scalars(
        select(ChargeAttempt)
        .where(
            or_(
                (ChargeAttempt.state == "queued") & (ChargeAttempt.run_at <= now),
                (ChargeAttempt.state == "running") & (ChargeAttempt.lease_until < now),
            )
        )
        .order_by(ChargeAttempt.run_at)
        .limit(limit)
    ).all()
    plans: list[ChargePlan] = []
    for attempt in due:
        # Compare-and-set on the state and lease seen: of two workers, one wins the row.
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(ChargeAttempt)
            .where(
                ChargeAttempt.id == attempt.id,
                ChargeAttempt.state == attempt.state,
                (ChargeAttempt.lease_until == attempt.lease_until)
                if attempt.lease_until is not None
                else ChargeAttempt.lease_until.is_(None),
            )
            .values(state="running", lease_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            continue
        session.refresh(attempt)
        plan = _plan(session, attempt, keys=keys, clock=clock)
        if plan is not None:
            plans.append(plan)
    return plans


def _plan(
    session: Session, attempt: ChargeAttempt, *, keys: tuple[str, ...], clock: Clock
) -> ChargePlan | None:
    invoice = session.get(Invoice, attempt.invoice_id)
    link = session.get(ProviderCustomer, invoice.customer_id) if invoice else None
    due = amount_due_cents(session, invoice) if invoice is not None else 0
    if invoice is None or link is None or invoice.payment_status == SUCCEEDED or due <= 0:
        _finish(attempt, outcome="skipped", error=None, clock=clock)
        return None
    customer = session.get(Customer, invoice.customer_id)
    connection = session.get(PaymentProviderConnection, link.connection_id)
    assert customer is not None and connection is not None
    return ChargePlan(
        attempt_id=attempt.id,
        organization_id=invoice.organization_id,
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        attempt=attempt.attempt,
        amount_cents=due,
        currency=invoice.currency,
        connection_id=connection.id,
        connection_code=connection.code,
        provider=connections.adapter(connection, keys),
        provider_customer_id=link.provider_customer_id,
        sync_with_provider=link.sync_with_provider,
        customer_id=customer.id,
        external_customer_id=customer.external_id,
        customer_name=customer.name,
        customer_email=customer.email,
    )


def _finish(attempt: ChargeAttempt, *, outcome: str, error: str | None, clock: Clock) -> None:
    attempt.state = "done"
    attempt.outcome = outcome
    attempt.error = error
    attempt.lease_until = None
    attempt.finished_at = clock.now()


@dataclass(frozen=True, slots=True)
class Executed:
    provider_customer_id: str | None
    result: ChargeResult | None
    error: str | None


def execute(plan: ChargePlan) -> Executed:
    """The provider calls, outside any transaction."""
    try:
        customer_id = connections.ensure_provider_customer(
            plan.provider,
            provider_customer_id=plan.provider_customer_id,
            sync_with_provider=plan.sync_with_provider,
            customer_id=plan.customer_id,
            external_id=plan.external_customer_id,
            name=plan.customer_name,
            email=plan.customer_email,
        )
        if customer_id is None:
            return Executed(None, None, "the customer has no provider customer")
        result = plan.provider.charge_off_session(
            provider_customer_id=customer_id,
            amount_cents=plan.amount_cents,
            currency=plan.currency,
            idempotency_key=idempotency_key(plan.invoice_id, plan.attempt),
            metadata={
                "lago_invoice_id": plan.invoice_id,
                "lago_customer_id": plan.customer_id,
                "invoice_type": "invoice",
                "invoice_number": plan.invoice_number or "",
            },
        )
    except ProviderError as exc:
        return Executed(None, None, str(exc))
    return Executed(customer_id, result, None)


def record(session: Session, *, plan: ChargePlan, executed: Executed, clock: Clock) -> None:
    """The provider's answer in the database: the attempt, the payment and the invoice."""
    attempt = session.get(ChargeAttempt, plan.attempt_id)
    invoice = session.get(Invoice, plan.invoice_id)
    assert attempt is not None and invoice is not None
    link = session.get(ProviderCustomer, plan.customer_id)
    if link is not None and executed.provider_customer_id:
        connections.customer_created_at_provider(
            session, link=link, provider_customer_id=executed.provider_customer_id, clock=clock
        )
    if executed.result is None:
        if executed.provider_customer_id is None and plan.provider_customer_id is None:
            _finish(attempt, outcome="error", error=executed.error, clock=clock)
            return
        # Unreachable provider: the same attempt again later, under the same key.
        attempt.state = "queued"
        attempt.lease_until = None
        attempt.run_at = clock.now() + UNREACHABLE_RETRY
        attempt.error = executed.error
        return
    ledger.apply_charge(
        session,
        invoice=invoice,
        result=executed.result,
        connection_id=plan.connection_id,
        provider_customer_id=executed.provider_customer_id,
        provider_code=plan.connection_code,
        clock=clock,
    )
    _finish(attempt, outcome=executed.result.outcome, error=executed.result.error_code, clock=clock)


def run_once(database: Database, *, keys: tuple[str, ...], clock: Clock, limit: int = 20) -> int:
    """One pass of the collection job: schedule, claim, charge, record. Attempts handled."""
    with database.unit_of_work() as session:
        schedule_due(session, clock=clock)
    with database.unit_of_work() as session:
        plans = claim(session, keys=keys, clock=clock, limit=limit)
    for plan in plans:
        executed = execute(plan)
        with database.unit_of_work() as session:
            record(session, plan=plan, executed=executed, clock=clock)
    return len(plans)


def attempts_count(session: Session, *, invoice_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ChargeAttempt)
            .where(ChargeAttempt.invoice_id == invoice_id)
        )
        or 0
    )
