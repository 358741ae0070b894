"""With the events in ClickHouse (chdb), corrections are refused: that store cannot void."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from meterly.services.common import FrozenClock
from meterly.store import event_stores
from tests.conftest import ApiClient
from tests.reconciliation.helpers import at, send, setup_world

pytestmark = pytest.mark.chdb


@pytest.fixture(autouse=True)
def events_in_clickhouse(chdb_events: event_stores.ClickHouseEvents) -> Iterator[None]:
    event_stores.configure(chdb_events.url)
    yield
    event_stores.configure(None)


def test_void_and_amend_are_refused(api: ApiClient, clock: FrozenClock) -> None:
    setup_world(api, extra_metric=False)
    send(api, "e1", at(1, 10), value=5)
    res: Any = api.delete("events/e1")
    assert res.status_code == 405, res.text
    assert res.json()["code"] == "event_corrections_not_supported"
    res = api.post("events/e1/amend", {"event": {"properties": {"mb": 1}}})
    assert res.status_code == 405, res.text
    res = api.get("customers/c/current_usage", params={"external_subscription_id": "s"})
    assert res.json()["customer_usage"]["amount_cents"] == 1000  # 5 × $2, unchanged
