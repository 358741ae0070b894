"""The billing run: everything the clock does at once.

Bills every boundary that closed and is not billed yet (catching up), in batches read
ahead; then drafts whose grace ended, overdue invoices, expiries, recurring top-ups and the
spend checks (progressive billing, alerts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterly.domain.schedule import (
    BillingBoundary,
    closed_boundaries,
)
from meterly.services.accounts import activate_pending, billing_cache, terms_of
from meterly.services.billing import (
    BATCH_SIZE,
    PrefetchedUsage,
    UsageKey,
    advance,
    bill_boundary,
    bill_termination,
    finalize_due_drafts,
    invoices,
    read_batch,
    terminated_unbilled,
)
from meterly.services.common import Clock, FrozenClock
from meterly.services.credits import coupons, wallets
from meterly.services.spend_control import spend
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
    with database.unit_of_work() as session:
        report.activated = len(
            activate_pending(session, organization_id=organization_id, clock=FrozenClock(as_of))
        )
        # Downgrades terminate their predecessor at the boundary: bill those terminations.
        for sub in terminated_unbilled(session, organization_id):
            _bill_termination_in(session, sub, clock=FrozenClock(as_of), report=report)
    with database.unit_of_work() as session:
        query = select(Subscription.id).where(Subscription.status == "active")
        if organization_id:
            query = query.where(Subscription.organization_id == organization_id)
        ids = list(session.scalars(query.order_by(Subscription.created_at)))
    report.subscriptions_seen = len(ids)
    done = 0
    for start in range(0, len(ids), BATCH_SIZE):
        batch = read_batch(database, ids[start : start + BATCH_SIZE], as_of=as_of)
        # Organization settings, taxes, webhook endpoints: read once for the batch.
        with billing_cache.active(batch.cache):
            for planned in batch.subscriptions:
                if planned.advance:
                    _bill_advance_charges(database, planned.sub_id, as_of=as_of, report=report)
                _bill_subscription(
                    database,
                    planned.sub_id,
                    as_of=as_of,
                    clock=clock,
                    report=report,
                    boundaries=planned.boundaries,
                    usage=batch.usage,
                )
                done += 1
                if on_progress:
                    on_progress(done, len(ids))
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


def _bill_subscription(
    database: Database,
    sub_id: str,
    *,
    as_of: datetime,
    clock: Clock,
    report: RunReport,
    boundaries: Sequence[BillingBoundary] | None = None,
    usage: Mapping[UsageKey, PrefetchedUsage] | None = None,
) -> None:
    """Bill each closed boundary in its own unit of work (`boundaries`: read ahead)."""
    if boundaries is None:
        with database.unit_of_work() as session:
            sub = session.get(Subscription, sub_id)
            assert sub is not None
            boundaries = closed_boundaries(
                terms_of(session, sub), after=sub.last_billed_boundary, as_of=as_of
            )
    for boundary in boundaries:
        try:
            with database.unit_of_work() as session:
                sub = session.get(Subscription, sub_id)
                assert sub is not None
                # Referenced for the whole unit of work: read once, not once per use.
                org = billing_cache.organization(session, sub.organization_id)  # noqa: F841
                if sub.last_billed_boundary is not None and boundary.at <= sub.last_billed_boundary:
                    continue  # another worker got here first
                invoice = bill_boundary(
                    session, sub=sub, boundary=boundary, clock=clock, usage=usage
                )
                sub.last_billed_boundary = boundary.at
                if invoice is not None:
                    report.invoices.append(invoice.id)
                    _tally(report, invoice)
        except IntegrityError:
            # The (subscription, boundary) key exists: billed by a concurrent run.
            report.already_billed += 1
        except Exception as exc:  # one bad subscription must not stop the run
            report.errors.append((sub_id, f"{type(exc).__name__}: {exc}"))
            return


def _tally(report: RunReport, invoice: Invoice) -> None:
    totals = report.amount_cents_by_currency
    totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.total_amount_cents


def _bill_termination_in(
    session: Session, sub: Subscription, *, clock: Clock, report: RunReport
) -> None:
    invoice = bill_termination(session, sub, clock=clock, upgraded=False)
    if invoice is not None:
        report.invoices.append(invoice.id)
        _tally(report, invoice)


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
