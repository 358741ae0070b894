"""The billing run: everything the clock does at once.

Bills every boundary that closed and is not billed yet (catching up), in batches read
ahead, one invoice per customer per boundary (`billing.consolidation`); then drafts whose
grace ended, overdue invoices, expiries, recurring top-ups and the spend checks
(progressive billing, alerts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from meterly.domain.schedule import BillingBoundary
from meterly.services.accounts import activate_pending, billing_cache
from meterly.services.billing import (
    BATCH_SIZE,
    PlannedInvoice,
    PlannedSubscription,
    PrefetchedUsage,
    UsageKey,
    advance,
    bill_planned_invoice,
    customer_batches,
    due_subscriptions,
    finalize_due_drafts,
    invoices,
    plan_invoices,
    plan_subscription,
    read_batch,
    successor_starts,
)
from meterly.services.common import Clock, FrozenClock
from meterly.services.credits import coupons, wallets
from meterly.services.spend_control import spend
from meterly.services.subscriptions import (
    alert_terminations,
    end_trials,
    started,
    terminate_ended,
)
from meterly.store.integrity import violates
from meterly.store.tables import (
    Invoice,
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


# --- the billing run -------------------------------------------------------------------


def run(
    database: Database,
    *,
    as_of: datetime,
    clock: Clock,
    organization_id: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    """Bill every boundary that closed by `as_of` and is not billed yet (catching up).

    `as_of` is "now" for everything the run bills (a FrozenClock at that instant).
    """
    report = RunReport()
    # Subscriptions whose `ending_at` has come end first, billed as terminations.
    with database.unit_of_work() as session:
        terminate_ended(session, clock=FrozenClock(as_of), organization_id=organization_id)
    with database.unit_of_work() as session:
        activated = activate_pending(
            session, organization_id=organization_id, clock=FrozenClock(as_of)
        )
        started(session, activated, FrozenClock(as_of))
        report.activated = len(activated)
    with database.unit_of_work() as session:
        end_trials(session, organization_id=organization_id, clock=FrozenClock(as_of))
        alert_terminations(session, organization_id=organization_id, clock=FrozenClock(as_of))
    # Active subscriptions, and terminations still to bill (a downgrade ends its predecessor
    # at the boundary), a customer's together: one invoice per customer per boundary.
    with database.unit_of_work() as session:
        due = due_subscriptions(session, organization_id)
    report.subscriptions_seen = len(due)
    done = 0
    for ids in customer_batches(due, BATCH_SIZE):
        batch = read_batch(database, ids, as_of=as_of)
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
            _bill_invoices(
                database,
                plan_invoices(planned_subscriptions),
                clock=clock,
                report=report,
                usage=batch.usage,
            )
        done += len(ids)
        if on_progress:
            on_progress(done, len(due))
    report.finalized_drafts = finalize_due_drafts(database, as_of=as_of, clock=clock)
    _housekeeping(database, as_of=as_of, organization_id=organization_id, report=report)

    checks = spend.run_checks(database, clock=FrozenClock(as_of), organization_id=organization_id)
    report.invoices.extend(checks.progressive_invoices)
    report.alerts_triggered = checks.alerts_triggered
    report.errors.extend(checks.errors)
    return report


def _housekeeping(
    database: Database, *, as_of: datetime, organization_id: str | None, report: RunReport
) -> None:
    """The clock's other duties: overdue invoices, expiries and recurring wallet top-ups."""

    at = FrozenClock(as_of)
    with database.unit_of_work() as session:
        report.overdue = invoices.mark_overdue(session, clock=at, organization_id=organization_id)
    with database.unit_of_work() as session:
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
) -> None:
    """Bill each planned invoice (a customer's parts at one instant) in its own unit of work.

    A subscription whose invoice failed is left out of its later invoices: its boundaries
    are billed in order or not at all (the next run starts again from the failed one).
    """
    failed: set[str] = set()
    for planned in planned_invoices:
        if failed:
            kept = tuple(part for part in planned.parts if part.sub_id not in failed)
            if not kept:
                continue
            planned = replace(planned, parts=kept)
        try:
            with database.unit_of_work() as session:
                first = session.get(Subscription, planned.parts[0].sub_id)
                assert first is not None
                # Referenced for the whole unit of work: read once, not once per use.
                org = billing_cache.organization(session, first.organization_id)  # noqa: F841
                invoice = bill_planned_invoice(session, planned=planned, clock=clock, usage=usage)
                if invoice is not None:
                    report.invoices.append(invoice.id)
                    _tally(report, invoice)
        except IntegrityError as exc:
            if violates(exc, EXACTLY_ONCE_KEY):
                # The (subscription, boundary) key exists: billed by a concurrent run.
                report.already_billed += 1
                continue
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


def _tally(report: RunReport, invoice: Invoice) -> None:
    totals = report.amount_cents_by_currency
    totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.total_amount_cents


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
