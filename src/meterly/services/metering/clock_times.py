"""The default timestamp of an event for a customer under a test clock: the clock's time.

An event sent without a timestamp happened "now", and for a customer living under a test
clock now is the clock's frozen time, not the wall clock's. Ingestion must stay cheap for
everyone else: the request's events are only looked at when one has no timestamp, and an
organization known to have no test clock (cached for a few seconds, forgotten at once in
this process when a clock is created) costs no query.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.store.tables import Customer, Subscription, TestClock

TTL = 5.0
_without_clocks: dict[str, float] = {}  # organization -> until when it is known clockless
_lock = threading.Lock()


def _undated(raws: Sequence[object]) -> set[str]:
    return {
        str(raw["external_subscription_id"])
        for raw in raws
        if isinstance(raw, Mapping)
        and raw.get("timestamp") is None
        and raw.get("external_subscription_id") is not None
    }


def needs_lookup(organization_id: str, raws: Sequence[object]) -> bool:
    """True when `stamp` may change something (without touching the database)."""
    if not _undated(raws):
        return False
    return _without_clocks.get(organization_id, 0.0) <= time.monotonic()


def stamp(session: Session, organization_id: str, raws: Sequence[object]) -> list[object]:
    """`raws` with the clock's time as the timestamp of undated events of clock customers."""
    wanted = _undated(raws)
    if not wanted or not needs_lookup(organization_id, raws):
        return list(raws)
    if (
        session.scalar(
            select(TestClock.id).where(TestClock.organization_id == organization_id).limit(1)
        )
        is None
    ):
        with _lock:
            _without_clocks[organization_id] = time.monotonic() + TTL
        return list(raws)
    rows = session.execute(
        select(Subscription.external_id, TestClock.frozen_time)
        .join(Customer, Customer.id == Subscription.customer_id)
        .join(TestClock, TestClock.id == Customer.test_clock_id)
        .where(
            Subscription.organization_id == organization_id,
            Subscription.external_id.in_(wanted),
        )
    )
    times = {str(external_id): frozen for external_id, frozen in rows}
    return [_dated(raw, times) for raw in raws]


def _dated(raw: object, times: Mapping[str, datetime]) -> object:
    if not isinstance(raw, Mapping) or raw.get("timestamp") is not None:
        return raw
    frozen = times.get(str(raw.get("external_subscription_id")))
    if frozen is None:
        return raw
    return {**raw, "timestamp": _epoch_text(frozen)}


def _epoch_text(moment: datetime) -> str:
    """Unix seconds with six decimals, exact (ingest.parse_timestamp's common shape)."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    seconds = delta.days * 86_400 + delta.seconds
    return f"{seconds}.{delta.microseconds:06d}"


def forget(organization_id: str) -> None:
    """The organization has a test clock now (called when one is created here)."""
    with _lock:
        _without_clocks.pop(organization_id, None)


def stamp_one(session: Session, organization_id: str, raw: Any) -> Any:
    return stamp(session, organization_id, [raw])[0]
