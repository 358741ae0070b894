"""Did we bill everything we received? Events per organization, customer, metric and day.

`accepted` counts the events Meterly acknowledged. The event writer answers 200 only after
the event's row is committed, and a retried or duplicated event (same transaction id and
subscription) is acknowledged again without a second row, so every acknowledged event
is exactly one stored row: accepted and stored are both the count of distinct stored
events. A difference between them would mean a lost write, which the report would show.
`billed` counts the events a finalized invoice counted, `pending` those the next invoice
will count, and `not_billed` those no invoice will ever count, per reason (see
`store.reconciliation` for the classifier).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from meterly.store.reconciliation import (
    BILLED,
    PENDING,
    REASONS,
    customers_of,
    fate_counts,
)
from meterly.store.reconciliation_pages import reason_counts

NO_CUSTOMER = ""


@dataclass(slots=True)
class ReconciliationRow:
    """One organization, customer, metric code and UTC day."""

    organization_id: str
    external_customer_id: str
    code: str
    day: date
    accepted: int = 0
    stored: int = 0
    billed: int = 0
    pending: int = 0
    not_billed: dict[str, int] = field(default_factory=dict)

    @property
    def never_billed(self) -> int:
        return sum(self.not_billed.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "external_customer_id": self.external_customer_id or None,
            "code": self.code,
            "day": self.day.isoformat(),
            "accepted": self.accepted,
            "stored": self.stored,
            "billed": self.billed,
            "pending": self.pending,
            "not_billed": self.never_billed,
            "not_billed_reasons": dict(sorted(self.not_billed.items())),
        }


def reconcile(
    session: Session,
    *,
    organization_id: str | None = None,
    timestamp_from: datetime | None = None,
    timestamp_to: datetime | None = None,
    on_group: Callable[[int], None] | None = None,
) -> list[ReconciliationRow]:
    """The report, sorted by organization, customer, code and day.

    The database groups the events; this function only folds subscriptions into their
    customer, so memory grows with the number of (customer, code, day) rows, not events.
    `on_group` is told how many grouped rows were read so far (a progress bar).
    """
    conn = session.connection()
    rows: dict[tuple[str, str, str, date], ReconciliationRow] = {}
    customer_cache: dict[str, dict[str, str]] = {}
    read = 0
    for chunk in _chunks(
        fate_counts(
            conn,
            organization_id=organization_id,
            timestamp_from=timestamp_from,
            timestamp_to=timestamp_to,
        )
    ):
        by_org: dict[str, set[str]] = {}
        for count in chunk:
            known = customer_cache.setdefault(count.organization_id, {})
            if count.external_subscription_id not in known:
                by_org.setdefault(count.organization_id, set()).add(count.external_subscription_id)
        for org, subs in by_org.items():
            found = customers_of(conn, org, sorted(subs))
            known = customer_cache[org]
            for sub in subs:
                known[sub] = found.get(sub, NO_CUSTOMER)
        for count in chunk:
            customer = customer_cache[count.organization_id][count.external_subscription_id]
            key = (count.organization_id, customer, count.code, count.day)
            row = rows.get(key)
            if row is None:
                row = rows[key] = ReconciliationRow(*key)
            row.accepted += count.events
            row.stored += count.events
            if count.fate == BILLED:
                row.billed += count.events
            elif count.fate == PENDING:
                row.pending += count.events
            else:
                row.not_billed[count.fate] = row.not_billed.get(count.fate, 0) + count.events
        read += len(chunk)
        if on_group is not None:
            on_group(read)
    return [rows[k] for k in sorted(rows)]


def _chunks(items: Iterator[Any], size: int = 1000) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def totals(rows: list[ReconciliationRow]) -> dict[str, Any]:
    """The report's grand totals, with every reason listed (zero when none)."""
    reasons = dict.fromkeys(REASONS, 0)
    for row in rows:
        for reason, n in row.not_billed.items():
            reasons[reason] = reasons.get(reason, 0) + n
    return {
        "accepted": sum(r.accepted for r in rows),
        "stored": sum(r.stored for r in rows),
        "billed": sum(r.billed for r in rows),
        "pending": sum(r.pending for r in rows),
        "not_billed": sum(reasons.values()),
        "not_billed_reasons": reasons,
    }


def flagged_counts(session: Session, *, organization_id: str) -> dict[str, int]:
    """How many events will never be billed, per reason (every reason, zero when none)."""
    found = reason_counts(session.connection(), organization_id)
    return {reason: found.get(reason, 0) for reason in REASONS}
