"""The fates of events kept in ClickHouse (chdb): the same scenarios, worked by hand in
test_flags.py and test_event_errors.py, with `METERLY_EVENTS_URL` set.

GET /events and /events/{id} (`billing_status`, `not_billed_reason`), the dashboard's
explorer filtered by reason and its overview counts, and the hourly `events.errors`: each
must read the events from ClickHouse and classify them with the main database's catalog.
Every test also checks, once done, that the main database's events table stayed empty,
so no figure can have come from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store import event_stores
from meterly.store.tables import events
from tests.conftest import ApiClient
from tests.reconciliation.helpers import at, send, setup_world
from tests.reconciliation.test_event_errors import (
    test_the_hourly_check_sends_lagos_events_errors as test_events_errors_from_clickhouse,
)
from tests.reconciliation.test_flags import (
    test_an_open_period_is_pending as test_an_open_period_is_pending_on_clickhouse,
)
from tests.reconciliation.test_flags import (
    test_each_reason_is_flagged as test_each_reason_is_flagged_on_clickhouse,
)
from tests.reconciliation.test_flags import (
    test_the_explorer_pages_and_filters_by_reason as test_the_explorer_reads_clickhouse,
)

pytestmark = pytest.mark.chdb

__all__ = [
    "test_an_open_period_is_pending_on_clickhouse",
    "test_each_reason_is_flagged_on_clickhouse",
    "test_events_errors_from_clickhouse",
    "test_the_explorer_reads_clickhouse",
]


@pytest.fixture(autouse=True)
def events_in_clickhouse(
    chdb_events: event_stores.ClickHouseEvents, api: ApiClient
) -> Iterator[None]:
    event_stores.configure(chdb_events.url)
    yield
    event_stores.configure(None)
    with api.database.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0


def test_one_event_received_after_its_invoice_is_ranked_among_its_period(
    api: ApiClient, clock: FrozenClock
) -> None:
    """GET /events/{id} lists one event, but the fate of one received after its period's
    invoice is its rank among the period's events: those must be read too."""
    setup_world(api)
    # Received 2024-02-01 12:00, then billed as of 01:00 that day (a catch-up run): the
    # January invoice is finalized at 01:00 and its fee counts the 3 events (1 + 2 + 3).
    clock.set(at(2, 1, 12))
    for tx, value in (("a", 1), ("b", 2), ("c", 3)):
        send(api, tx, at(1, 10), value=value)
    runs.run(api.database, as_of=at(2, 1, 1), clock=FrozenClock(at(2, 1, 1)))  # type: ignore[arg-type]
    clock.set(at(2, 1, 13))
    send(api, "d", at(1, 20), value=4)
    # a, b, c: received after 01:00, ranks 1, 2, 3 in reception order, within the 3 counted.
    # d: rank 4 > 3: January was invoiced without it.
    found = {tx: status(api, tx) for tx in ("a", "b", "c", "d")}
    assert found == {
        "a": ("billed", None),
        "b": ("billed", None),
        "c": ("billed", None),
        "d": ("not_billed", "period already invoiced"),
    }


def status(api: ApiClient, transaction_id: str) -> tuple[str, str | None]:
    res: Any = api.get(f"events/{transaction_id}")
    assert res.status_code == 200, res.text
    event = res.json()["event"]
    return event["billing_status"], event["not_billed_reason"]
