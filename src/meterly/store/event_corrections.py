"""The statements of event corrections: find, void and amend stored events, sum fee changes.

Voiding and amending are the only updates an event row ever gets; both keep the row (see
`tables.corrections` for the history they leave).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from meterly.store.event_stores.config import for_source
from meterly.store.tables import FeeCorrection, events


def supported(conn: Connection) -> bool:
    """Whether the organization's events can be corrected: not in the ClickHouse event
    store, which has no `voided_at` to filter on (its usage statements would still count
    a voided event)."""
    return for_source(conn) is None


def events_of(
    conn: Connection,
    *,
    organization_id: str,
    transaction_id: str,
    external_subscription_id: str | None,
) -> list[dict[str, Any]]:
    """The stored events with this transaction id (one per subscription at most)."""
    where = [
        events.c.organization_id == organization_id,
        events.c.transaction_id == transaction_id,
    ]
    if external_subscription_id is not None:
        where.append(events.c.external_subscription_id == external_subscription_id)
    rows = conn.execute(sa.select(events).where(*where).order_by(events.c.external_subscription_id))
    return [dict(r) for r in rows.mappings()]


def _key(organization_id: str, transaction_id: str, external_subscription_id: str) -> Any:
    return sa.and_(
        events.c.organization_id == organization_id,
        events.c.transaction_id == transaction_id,
        events.c.external_subscription_id == external_subscription_id,
        # Never touch a voided row again: a second void or an amend after it changes nothing.
        events.c.voided_at.is_(None),
    )


def void(
    conn: Connection,
    *,
    organization_id: str,
    transaction_id: str,
    external_subscription_id: str,
    at: datetime,
) -> bool:
    """Mark the event voided; False when it was voided already (by a concurrent request)."""
    result = conn.execute(
        sa.update(events)
        .where(_key(organization_id, transaction_id, external_subscription_id))
        .values(voided_at=at)
    )
    return bool(result.rowcount)


def amend(
    conn: Connection,
    *,
    organization_id: str,
    transaction_id: str,
    external_subscription_id: str,
    timestamp: datetime,
    properties: Mapping[str, Any],
    at: datetime,
) -> bool:
    """Rewrite the event's timestamp and properties; False when it is voided."""
    result = conn.execute(
        sa.update(events)
        .where(_key(organization_id, transaction_id, external_subscription_id))
        .values(timestamp=timestamp, properties=dict(properties), amended_at=at)
    )
    return bool(result.rowcount)


def corrected_by_fee(conn: Connection, fee_ids: Sequence[str]) -> dict[str, int]:
    """Per original fee, the signed sum its correction documents changed it by (cents)."""
    if not fee_ids:
        return {}
    t = FeeCorrection.__table__
    rows = conn.execute(
        sa.select(t.c.fee_id, sa.func.sum(t.c.amount_cents))
        .where(t.c.fee_id.in_(list(fee_ids)))
        .group_by(t.c.fee_id)
    )
    return {fee_id: int(total or 0) for fee_id, total in rows}
