"""Lago's events.errors webhook for the last hour's events that billing will ignore."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import reconciliation
from meterly.services.common import FrozenClock
from meterly.store.tables import Webhook
from tests.conftest import ApiClient
from tests.reconciliation.helpers import at, send, setup_world


def test_the_hourly_check_sends_lagos_events_errors(api: ApiClient, clock: FrozenClock) -> None:
    res: Any = api.post(
        "webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://example.com/hook"}}
    )
    assert res.status_code == 200, res.text
    setup_world(api)
    # Clock 2024-01-15 12:00: these three are received in the hour 12:00–13:00.
    send(api, "nope", at(1, 10), code="nope")
    send(api, "lots", at(1, 10), value="lots")
    send(api, "ok", at(1, 10), value=1)
    send(api, "ghost", at(1, 10), sub="ghost", value=1)  # not one of Lago's keys
    window = reconciliation.last_complete_hour(datetime(2024, 1, 15, 13, 5, tzinfo=UTC))
    assert window == (at(1, 15, 12), at(1, 15, 13))
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        sent = reconciliation.report_event_errors(
            session, received_from=window[0], received_to=window[1], clock=clock
        )
    assert sent == {
        api.org_id: {"invalid_code": ["nope"], "missing_aggregation_property": ["lots"]}
    }
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        rows = list(session.scalars(select(Webhook).where(Webhook.webhook_type == "events.errors")))
        assert len(rows) == 1
        assert rows[0].object_type == "events_errors"
        assert rows[0].payload == {
            "invalid_code": ["nope"],
            "missing_aggregation_property": ["lots"],
            "invalid_filter_values": [],
            "missing_group_key": None,
        }
    # The next hour received nothing: no webhook.
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        later = reconciliation.report_event_errors(
            session, received_from=window[1], received_to=at(1, 15, 14), clock=clock
        )
    assert later == {}
