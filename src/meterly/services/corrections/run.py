"""The correction run: for every finalized invoice the corrected events touch, its documents.

Which invoices: those with a usage fee whose window holds an event voided or amended since
the last run (before or after an amendment), and, for organizations accepting late events,
those whose period received events after it was invoiced (the reconciliation classifier's
`period already invoiced`). Each invoice is corrected in its own unit of work; each
correction it took into account is then marked applied, naming the documents. Drafts need
nothing: they are refreshed from the events as always.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.services.common import Clock, new_id
from meterly.services.corrections.documents import correct_invoice
from meterly.services.corrections.events import LATE
from meterly.services.reconciliation import events_with_fates
from meterly.store.tables import EventCorrection, Fee, Invoice, Organization, Subscription
from meterly.store.uow import Database

# The classifier's fate of an event received after its period was invoiced.
_ALREADY_INVOICED = "period already invoiced"
_PAGE = 500


@dataclass
class CorrectionReport:
    invoices_examined: int = 0
    credit_notes: list[str] = field(default_factory=list)  # numbers
    invoices: list[str] = field(default_factory=list)  # numbers
    corrections_applied: int = 0
    late_events: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Work:
    corrections: list[str] = field(default_factory=list)  # event_corrections ids
    late: list[dict[str, Any]] = field(default_factory=list)  # late event rows


def run(
    database: Database, *, clock: Clock, organization_id: str | None = None
) -> CorrectionReport:
    """Issue every correction document due; a second run issues nothing new."""
    report = CorrectionReport()
    with database.unit_of_work() as session:
        work, unattached = _affected(session, organization_id)
        _mark_applied(session, unattached, None, clock=clock)
    for invoice_id, todo in sorted(work.items()):
        try:
            with database.unit_of_work() as session:
                _correct_one(session, invoice_id, todo, clock=clock, report=report)
        except Exception as exc:  # one invoice's failure must not stop the others
            report.errors.append((invoice_id, str(exc)))
    return report


def _correct_one(
    session: Session, invoice_id: str, todo: _Work, *, clock: Clock, report: CorrectionReport
) -> None:
    # Locked (PostgreSQL): a concurrent run waits, then sees this one's fee_corrections and
    # finds nothing left to correct. SQLite has one writer at a time anyway.
    invoice = session.scalars(
        select(Invoice).where(Invoice.id == invoice_id).with_for_update()
    ).one()
    citations = _citations(session, todo)
    done = correct_invoice(session, invoice=invoice, citations=citations, clock=clock)
    report.invoices_examined += 1
    if done.credit_note is not None:
        report.credit_notes.append(done.credit_note.number)
    if done.correction_invoice is not None:
        report.invoices.append(done.correction_invoice.number or done.correction_invoice.id)
    report.corrections_applied += _mark_applied(session, todo.corrections, done, clock=clock)
    report.late_events += _record_late(session, todo.late, done, clock=clock)


def _citations(session: Session, todo: _Work) -> list[dict[str, Any]]:
    cited = [
        {
            "transaction_id": c.transaction_id,
            "external_subscription_id": c.external_subscription_id,
            "kind": c.kind,
            "before": c.before,
            "after": c.after,
            "corrected_at": c.created_at.isoformat().replace("+00:00", "Z"),
        }
        for c in session.scalars(
            select(EventCorrection)
            .where(EventCorrection.id.in_(todo.corrections))
            .order_by(EventCorrection.created_at, EventCorrection.id)
        )
    ]
    cited.extend(
        {
            "transaction_id": e["transaction_id"],
            "external_subscription_id": e["external_subscription_id"],
            "kind": LATE,
            "received_at": e["created_at"].isoformat().replace("+00:00", "Z"),
        }
        for e in todo.late
    )
    return cited


def _mark_applied(session: Session, ids: Iterable[str], done: Any, *, clock: Clock) -> int:
    now = clock.now()
    count = 0
    for row in session.scalars(select(EventCorrection).where(EventCorrection.id.in_(list(ids)))):
        row.applied_at = now
        if done is not None:
            row.original_invoice_id = done.invoice.id
            if done.credit_note is not None:
                row.credit_note_id = done.credit_note.id
            if done.correction_invoice is not None:
                row.corrected_in_invoice_id = done.correction_invoice.id
        count += 1
    session.flush()
    return count


def _record_late(session: Session, late: list[dict[str, Any]], done: Any, *, clock: Clock) -> int:
    now = clock.now()
    for e in late:
        session.add(
            EventCorrection(
                id=new_id(),
                organization_id=e["organization_id"],
                transaction_id=e["transaction_id"],
                external_subscription_id=e["external_subscription_id"],
                code=e["code"],
                kind=LATE,
                before=None,
                after={
                    "timestamp": e["timestamp"].isoformat().replace("+00:00", "Z"),
                    "properties": e["properties"],
                },
                actor="system",
                created_at=now,
                applied_at=now,
                original_invoice_id=done.invoice.id,
                credit_note_id=done.credit_note.id if done.credit_note else None,
                corrected_in_invoice_id=(
                    done.correction_invoice.id if done.correction_invoice else None
                ),
            )
        )
    session.flush()
    return len(late)


# --- which invoices ------------------------------------------------------------------------


def _affected(session: Session, organization_id: str | None) -> tuple[dict[str, _Work], list[str]]:
    """Per finalized invoice, the corrections and late events it must take into account;
    and the corrections no finalized invoice counted (an open period: nothing to issue)."""
    work: dict[str, _Work] = {}
    unattached: list[str] = []
    query = select(EventCorrection).where(EventCorrection.applied_at.is_(None))
    if organization_id:
        query = query.where(EventCorrection.organization_id == organization_id)
    for c in session.scalars(query.order_by(EventCorrection.created_at)):
        moments = [_at(s) for s in (c.before, c.after) if s]
        found = _covering(
            session, c.organization_id, c.external_subscription_id, [m for m in moments if m]
        )
        if not found:
            unattached.append(c.id)
        for invoice_id in found:
            work.setdefault(invoice_id, _Work()).corrections.append(c.id)
    orgs = select(Organization.id).where(Organization.accept_late_events.is_(True))
    if organization_id:
        orgs = orgs.where(Organization.id == organization_id)
    for org_id in list(session.scalars(orgs)):
        for e in _late_events(session, org_id):
            for invoice_id in _covering(
                session, org_id, e["external_subscription_id"], [e["timestamp"]]
            ):
                work.setdefault(invoice_id, _Work()).late.append(e)
    return work, unattached


def _at(snapshot: dict[str, Any]) -> datetime | None:
    raw = snapshot.get("timestamp")
    return datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) else None


def _covering(
    session: Session, organization_id: str, external_subscription_id: str, moments: list[datetime]
) -> list[str]:
    """The finalized invoices with a usage fee of the subscription whose window holds one
    of the instants."""
    found: set[str] = set()
    for moment in moments:
        found.update(
            session.scalars(
                select(Invoice.id)
                .join(Fee, Fee.invoice_id == Invoice.id)
                .join(Subscription, Subscription.id == Fee.subscription_id)
                .where(
                    Invoice.organization_id == organization_id,
                    Invoice.status == "finalized",
                    Subscription.organization_id == organization_id,
                    Subscription.external_id == external_subscription_id,
                    Fee.fee_type == "charge",
                    Fee.deleted_at.is_(None),
                    Fee.event_transaction_id.is_(None),
                    Fee.from_datetime <= moment,
                    Fee.to_datetime >= moment,
                )
                .distinct()
            )
        )
    return sorted(found)


def _late_events(session: Session, organization_id: str) -> list[dict[str, Any]]:
    """The organization's events received after their period was invoiced, not yet billed
    by a correction (a billed one is classified `billed`)."""
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        rows, total = events_with_fates(
            session,
            organization_id=organization_id,
            page=page,
            per_page=_PAGE,
            reason=_ALREADY_INVOICED,
        )
        found.extend(rows)
        if page * _PAGE >= total:
            return found
        page += 1
