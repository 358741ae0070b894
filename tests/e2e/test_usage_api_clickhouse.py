"""Current usage and billing through HTTP with the events in ClickHouse (chdb).

The same scenario and figures as test_usage_api (lago-api.md §7.6), run again with
`METERLY_EVENTS_URL` pointing at chdb: ingestion writes to ClickHouse, current usage and
the billing run read from it, and the main database's events table stays empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store import event_stores
from meterly.store.tables import events

from .test_usage_api import priced  # noqa: F401  (the fixture)
from .test_usage_api import test_current_usage_matches_the_rating_engine as usage_scenario

pytestmark = pytest.mark.chdb


@pytest.fixture(autouse=True)
def events_in_clickhouse(chdb_events: event_stores.ClickHouseEvents) -> Iterator[None]:
    event_stores.configure(chdb_events.url)
    yield
    event_stores.configure(None)


def test_current_usage_and_the_invoice_come_from_clickhouse(priced: Any) -> None:  # noqa: F811
    usage_scenario(priced)
    duplicate = priced.post(
        "events",
        {"event": {"transaction_id": "c1", "external_subscription_id": "sub_acme",
                   "code": "api_calls", "timestamp": "1704196800"}},
    )  # fmt: skip
    assert duplicate.status_code == 422, duplicate.text
    with priced.database.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0
    when = datetime(2024, 2, 1, 0, 0, 1, tzinfo=UTC)
    report = runs.run(priced.database, as_of=when, clock=FrozenClock(when))
    assert report.errors == []
    (invoice,) = priced.get("invoices").json()["invoices"]
    # Charges 13.00 + 57.00 (as current usage above) + the subscription fee 10.00 = 80.00;
    # VAT 20 % = 16.00; total 96.00.
    assert invoice["fees_amount_cents"] == 8000
    assert invoice["taxes_amount_cents"] == 1600
    assert invoice["total_amount_cents"] == 9600
