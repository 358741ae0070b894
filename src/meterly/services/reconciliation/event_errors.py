"""Lago's `events.errors` webhook: the events of the last hour billing will ignore.

Lago accepts such events at ingestion and reports them afterwards, hourly, per
organization, with the transaction ids grouped by error. Meterly does the same from the
worker (`jobs/worker.py`, loop "event-errors"), over the events received in the last
complete hour, so ingestion pays nothing for it. Lago's keys map onto the classifier's
reasons: `invalid_code` = unknown metric, `missing_aggregation_property` = value not
numeric for a sum/max/weighted metric. Meterly keeps no filter-value or group-key
validation at ingestion, so `invalid_filter_values` is always empty and
`missing_group_key` null. The other reasons (a subscription missing, a timestamp out of
range) are not in Lago's webhook; the explorer and `meterly reconcile` show them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from meterly.services.common import Clock
from meterly.services.notifications import enqueue
from meterly.store import reconciliation as store
from meterly.store.reconciliation_pages import flagged_received

LAGO_KEYS = {
    store.UNKNOWN_METRIC: "invalid_code",
    store.NOT_NUMERIC: "missing_aggregation_property",
}
# A webhook body stays small: at most this many transaction ids per key.
MAX_IDS = 1000


def last_complete_hour(now: datetime) -> tuple[datetime, datetime]:
    end = now.replace(minute=0, second=0, microsecond=0)
    return end - timedelta(hours=1), end


def report_event_errors(
    session: Session, *, received_from: datetime, received_to: datetime, clock: Clock
) -> dict[str, dict[str, list[str]]]:
    """Enqueue one `events.errors` webhook per organization with errors among the events
    received in [received_from, received_to); returns what was sent, by organization."""
    sent: dict[str, dict[str, list[str]]] = {}
    for org, reason, transaction_id in flagged_received(
        session.connection(),
        received_from=received_from,
        received_to=received_to,
        reasons=list(LAGO_KEYS),
    ):
        ids = sent.setdefault(org, {key: [] for key in LAGO_KEYS.values()})[LAGO_KEYS[reason]]
        if len(ids) < MAX_IDS:
            ids.append(transaction_id)
    for org, errors in sent.items():
        payload = {**errors, "invalid_filter_values": [], "missing_group_key": None}
        enqueue(session, org, "events.errors", "events_errors", None, clock, payload=payload)
    return sent
