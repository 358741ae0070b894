"""The billing run: everything the clock does at once.

Bills every boundary that closed and is not billed yet (catching up), in batches read
ahead, one invoice per customer per boundary (`billing.consolidation`); then drafts whose
grace ended, overdue invoices, expiries, recurring top-ups and the spend checks
(progressive billing, alerts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from meterly.domain.schedule import BillingBoundary
from meterly.services.accounts import activate_pending, billing_cache
from meterly.services.billing import (
    PlannedInvoice,
    PlannedSubscription,
    PrefetchedUsage,
    UsageKey,
    activation,
    advance,
    bill_planned_invoice,
    finalize_due_drafts,
    invoices,
    plan_invoices,
    plan_subscription,
    read_batch,
    successor_starts,
)
from meterly.services.common import Clock, FrozenClock, clock_for
from meterly.services.corrections import CorrectionReport
from meterly.services.corrections import run as run_corrections
from meterly.services.credits import coupons, wallets
from meterly.services.invoicing import numbering
from meterly.services.runs import fanout
from meterly.services.runs.batch_session import batch_session, invoice_transaction
from meterly.services.spend_control import spend
from meterly.services.subscriptions import (
    alert_terminations,
    end_trials,
    started,
    terminate_ended,
)
from meterly.store import clock_scope
from meterly.store.copied_rows import copied
from meterly.store.integrity import violates
from meterly.store.tables import (
    Fee,
    Subscription,
)
from meterly.store.uow import Database


@dataclass
class RunReport:
    """What a billing run did, for the command line's summary table."""

    invoices: list[str] = field(default_factory=list)
    already_billed: int = 0
    subscriptions_seen: int = 0
    activated: int = 0
    finalized_drafts: int = 0
    alerts_triggered: int = 0
    overdue: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    amount_cents_by_currency: dict[str, int] = field(default_factory=dict)
    # The credit notes and correction invoices the corrected events called for.
    corrections: CorrectionReport = field(default_factory=CorrectionReport)


# --- the billing run -------------------------------------------------------------------


def run(
    database: Database,
    *,
    as_of: datetime,
    clock: Clock,
    organization_id: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    lease_clock: Clock | None = None,
) -> RunReport:
    """Bill every boundary that closed by `as_of` and is not billed yet (catching up).

    `as_of` is "now" for everything the run bills (a FrozenClock at that instant). The
    billing itself is shared with the other workers running at the same time
    (`fanout`): batches are claimed under leases timed by `lease_clock` (the wall clock).
    """
    report = RunReport()
    # Subscriptions whose `ending_at` has come end first, billed as terminations.
    with database.unit_of_work() as session:
        terminate_ended(session, clock=FrozenClock(as_of), organization_id=organization_id)
    with database.unit_of_work() as session:
        activated = activate_pending(
            session, organization_id=organization_id, clock=FrozenClock(as_of)
        )
        # A future subscription with a payment rule waits for its first payment instead.
        gated = {
            s.id
            for s in activated
            if activation.gate_start(session, sub=s, clock=FrozenClock(as_of))
        }
        started(session, [s for s in activated if s.id not in gated], FrozenClock(as_of))
        report.activated = len(activated)
    _settle_activations(database, as_of=as_of, organization_id=organization_id)
    with database.unit_of_work() as session:
        end_trials(session, organization_id=organization_id, clock=FrozenClock(as_of))
        alert_terminations(session, organization_id=organization_id, clock=FrozenClock(as_of))
    _bill_shared_runs(
        database,
        as_of=as_of,
        clock=clock,
        organization_id=organization_id,
        report=report,
        on_progress=on_progress,
        lease_clock=lease_clock or clock_for(None),
    )
    report.finalized_drafts = finalize_due_drafts(database, as_of=as_of, clock=clock)
    # Finalized invoices are never rewritten: corrected events get correction documents.
    report.corrections = run_corrections(
        database, clock=FrozenClock(as_of), organization_id=organization_id
    )
    # A start that cost nothing is paid at once: activated in the run that billed it.
    _settle_activations(database, as_of=as_of, organization_id=organization_id)
    _housekeeping(database, as_of=as_of, organization_id=organization_id, report=report)

    checks = spend.run_checks(database, clock=FrozenClock(as_of), organization_id=organization_id)
    report.invoices.extend(checks.progressive_invoices)
    report.alerts_triggered = checks.alerts_triggered
    report.errors.extend(checks.errors)
    return report


def _bill_shared_runs(
    database: Database,
    *,
    as_of: datetime,
    clock: Clock,
    organization_id: str | None,
    report: RunReport,
    on_progress: Callable[[int, int], None] | None,
    lease_clock: Clock,
) -> None:
    """Active subscriptions, and terminations still to bill (a downgrade ends its
    predecessor at the boundary), a customer's together: one invoice per customer per
    boundary. Batches of the scope's open run first (another worker's, or one a dead worker
    left), then, if that run was as of an earlier instant, a run of our own."""
    scope = organization_id or "*"
    if (test_clock_id := clock_scope.current()) is not None:
        # The clock's own id (an id like an organization's: the column holds 36 characters):
        # its run never joins, nor waits for, the live one.
        scope = test_clock_id
    holder = fanout.holder_name()
    while True:
        shared = fanout.open_or_join(
            database,
            scope=scope,
            organization_id=organization_id,
            as_of=as_of,
            now=lease_clock.now(),
        )
        if shared is None:
            return
        for lease in fanout.claims(database, shared, holder=holder, lease_clock=lease_clock):
            if _bill_batch(database, lease, as_of=shared.as_of, clock=clock, report=report):
                lease.finish()
            report.subscriptions_seen += len(lease.batch.subscription_ids)
            if on_progress:
                on_progress(report.subscriptions_seen, shared.subscriptions)
        closed = fanout.close_if_done(database, shared, lease_clock=lease_clock)
        if shared.as_of >= as_of:
            return  # that run bills everything ours would
        if not closed:
            fanout.wait_for_others()


def _bill_batch(
    database: Database,
    lease: fanout.Lease,
    *,
    as_of: datetime,
    clock: Clock,
    report: RunReport,
) -> bool:
    """Bill one claimed batch; False when its lease was lost to another worker midway."""
    batch = read_batch(database, lease.batch.subscription_ids, as_of=as_of)
    if not lease.renew():  # the read-ahead outlived the lease: the batch is someone else's
        return False
    # Organization settings, taxes, webhook endpoints: read once for the batch.
    with billing_cache.active(batch.cache):
        planned_subscriptions = []
        for planned in batch.subscriptions:
            if planned.advance:
                _bill_advance_charges(database, planned.sub_id, as_of=as_of, report=report)
            if planned.boundaries is None:  # not read ahead: read alone, or report why
                replanned = _plan_alone(database, planned.sub_id, as_of=as_of, report=report)
                if replanned is None:
                    continue
                planned = replanned
            planned_subscriptions.append(planned)
        return _bill_invoices(
            database,
            plan_invoices(planned_subscriptions),
            clock=clock,
            report=report,
            usage=batch.usage,
            lease=lease,
        )


def _settle_activations(
    database: Database, *, as_of: datetime, organization_id: str | None
) -> None:
    """Subscriptions waiting for their first payment: activated once it is paid, canceled
    when their rule's timeout has passed (`billing.activation`)."""
    with database.unit_of_work() as session:
        activation.settle_incomplete(
            session, clock=FrozenClock(as_of), organization_id=organization_id
        )


def _housekeeping(
    database: Database, *, as_of: datetime, organization_id: str | None, report: RunReport
) -> None:
    """The clock's other duties: overdue invoices, expiries and recurring wallet top-ups."""

    at = FrozenClock(as_of)
    with database.unit_of_work() as session:
        report.overdue = invoices.mark_overdue(session, clock=at, organization_id=organization_id)
    with database.unit_of_work() as session:
        if clock_scope.current() is None:  # coupons belong to no customer: live time only
            coupons.terminate_expired(session, clock=at)
        wallets.terminate_expired(session, clock=at)
    with database.unit_of_work() as session:
        wallets.run_recurring_top_ups(session, clock=at)


def _plan_alone(
    database: Database, sub_id: str, *, as_of: datetime, report: RunReport
) -> PlannedSubscription | None:
    """The plan of a subscription the read-ahead could not read; None (reported) if it fails."""
    try:
        with database.unit_of_work() as session:
            sub = session.get(Subscription, sub_id)
            assert sub is not None
            successor = successor_starts(session, [sub_id]).get(sub_id)
            return plan_subscription(session, sub, as_of=as_of, successor_start=successor)
    except Exception as exc:  # one bad subscription must not stop the run
        report.errors.append((sub_id, f"{type(exc).__name__}: {exc}"))
        return None


def _bill_invoices(
    database: Database,
    planned_invoices: Sequence[PlannedInvoice],
    *,
    clock: Clock,
    report: RunReport,
    usage: Mapping[UsageKey, PrefetchedUsage] | None = None,
    lease: fanout.Lease | None = None,
) -> bool:
    """Bill each planned invoice (a customer's parts at one instant), CHUNK to a transaction.

    A subscription whose invoice failed is left out of its later invoices: its boundaries
    are billed in order or not at all (the next run starts again from the failed one).
    The lease is renewed every RENEW_EVERY invoices; False when it was lost.
    """
    with batch_session(database) as session:
        return _bill_in_session(
            session, planned_invoices, clock=clock, report=report, usage=usage, lease=lease
        )


def _bill_in_session(
    session: Session,
    planned_invoices: Sequence[PlannedInvoice],
    *,
    clock: Clock,
    report: RunReport,
    usage: Mapping[UsageKey, PrefetchedUsage] | None,
    lease: fanout.Lease | None,
) -> bool:
    failed: set[str] = set()
    for start in range(0, len(planned_invoices), CHUNK):
        if lease is not None and start and start % fanout.RENEW_EVERY == 0 and not lease.renew():
            return False
        chunk = _without(planned_invoices[start : start + CHUNK], failed)
        if _bill_chunk(session, chunk, clock=clock, report=report, usage=usage):
            continue
        # Something in the chunk failed and nothing of it was written: one by one, so only
        # what fails is left out (and a concurrent worker's invoice is counted as such).
        for planned in chunk:
            _bill_alone(session, planned, clock=clock, report=report, usage=usage, failed=failed)
    return True


_log = logging.getLogger(__name__)

# Invoices written in one transaction: the commit is paid once for them all, while a
# chunk that fails costs little to write again one invoice at a time.
CHUNK = 50


def _without(chunk: Sequence[PlannedInvoice], failed: set[str]) -> list[PlannedInvoice]:
    """The chunk less the parts of subscriptions whose earlier invoice failed: their
    boundaries are billed in order or not at all."""
    if not failed:
        return list(chunk)
    kept_invoices = []
    for planned in chunk:
        kept = tuple(part for part in planned.parts if part.sub_id not in failed)
        if kept:
            kept_invoices.append(replace(planned, parts=kept))
    return kept_invoices


def _bill_chunk(
    session: Session,
    chunk: Sequence[PlannedInvoice],
    *,
    clock: Clock,
    report: RunReport,
    usage: Mapping[UsageKey, PrefetchedUsage] | None,
) -> bool:
    """The chunk's invoices in one transaction; False, with nothing written, if any fails."""
    issued: list[tuple[str, str, int]] = []
    try:
        with invoice_transaction(session):
            # Every subscription of the chunk in one read, with its customer, kept while the
            # chunk is written (nothing is let go before the commit); their plans (kept
            # from the batch's earlier invoices) come from the session.
            subs = _subscriptions(session, [s for p in chunk for s in p.sub_ids])
            # One flush for the whole chunk: the invoices' numbers come from one statement
            # at the end, so nothing in between needs their rows written. Its fees (eleven
            # an invoice with ten metrics) go by one COPY.
            with copied(session, Fee):
                with numbering.numbered_together(session):
                    for planned in chunk:
                        _organization(session, subs, planned)
                        invoice = bill_planned_invoice(
                            session, planned=planned, clock=clock, usage=usage
                        )
                        if invoice is not None:
                            issued.append(
                                (invoice.id, invoice.currency, invoice.total_amount_cents)
                            )
                session.flush()
    except Exception as exc:
        # Expected now and then (a concurrent worker billed a key first); the invoices are
        # written again one by one, and what fails there is reported.
        _log.info("a chunk of %d invoices rolled back (%s): one by one", len(chunk), exc)
        return False
    for invoice_id, currency, total_cents in issued:
        report.invoices.append(invoice_id)
        _tally(report, currency, total_cents)
    return True


def _subscriptions(session: Session, sub_ids: Sequence[str]) -> list[Subscription]:
    return list(
        session.scalars(
            select(Subscription)
            .where(Subscription.id.in_(sub_ids))
            .options(lazyload(Subscription.plan))
        )
    )


def _organization(session: Session, subs: Sequence[Subscription], planned: PlannedInvoice) -> None:
    """Hold the invoice's organization in the session: the batch's copy, read once, is
    referenced by every step of the invoice."""
    first = next(s for s in subs if s.id == planned.parts[0].sub_id)
    session.info[ORGANIZATION] = billing_cache.organization(session, first.organization_id)


ORGANIZATION = "billing_batch_organization"


def _bill_alone(
    session: Session,
    planned: PlannedInvoice,
    *,
    clock: Clock,
    report: RunReport,
    usage: Mapping[UsageKey, PrefetchedUsage] | None,
    failed: set[str],
) -> None:
    """One invoice in its own transaction; a failure is reported and its subscriptions
    are left out of their later invoices."""
    left = _without([planned], failed)
    if not left:
        return
    planned = left[0]
    try:
        with invoice_transaction(session):
            _organization(session, _subscriptions(session, planned.sub_ids), planned)
            invoice = bill_planned_invoice(session, planned=planned, clock=clock, usage=usage)
            if invoice is not None:
                report.invoices.append(invoice.id)
                _tally(report, invoice.currency, invoice.total_amount_cents)
    except IntegrityError as exc:
        if violates(exc, EXACTLY_ONCE_KEY):
            # The (subscription, boundary) key exists: billed by a concurrent run.
            report.already_billed += 1
            return
        # Any other key (a colliding invoice number, ...) means the invoice was NOT
        # issued: report it, never count it as done (issue 20).
        for sub_id in planned.sub_ids:
            report.errors.append((sub_id, _cause(exc, planned)))
        failed.update(planned.sub_ids)
    except Exception as exc:  # one bad subscription must not stop the run
        for sub_id in planned.sub_ids:
            report.errors.append((sub_id, _cause(exc, planned)))
        failed.update(planned.sub_ids)


# The unique key that makes billing a boundary exactly-once (InvoiceSubscription).
EXACTLY_ONCE_KEY = "uq_invoice_subscriptions_period"


def _cause(exc: Exception, boundary: BillingBoundary | PlannedInvoice) -> str:
    """The boundary that failed and why, on one line (a driver's message spans several)."""
    detail = str(exc.orig) if isinstance(exc, IntegrityError) else str(exc)
    first_line = detail.strip().splitlines()[0] if detail.strip() else ""
    return f"boundary {boundary.at.isoformat()}: {type(exc).__name__}: {first_line}"


def _tally(report: RunReport, currency: str, total_amount_cents: int) -> None:
    totals = report.amount_cents_by_currency
    totals[currency] = totals.get(currency, 0) + total_amount_cents


def _bill_advance_charges(
    database: Database, sub_id: str, *, as_of: datetime, report: RunReport
) -> None:

    with database.unit_of_work() as session:
        sub = session.get(Subscription, sub_id)
        if sub is None or not advance.advance_charges(sub):
            return
        for fee in advance.process_subscription(session, sub=sub, clock=FrozenClock(as_of)):
            if fee.invoice_id:
                report.invoices.append(fee.invoice_id)
