"""Reconciliation, audit and explain with the events in ClickHouse (chdb), on both backends.

The events are ingested through the API into chdb (the main database's events table stays
empty), billed, then reconciled, audited and explained: every figure must come from the
ClickHouse events joined with the main database's catalog.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from meterly.cli.main import app
from meterly.services import reconciliation
from meterly.services.common import FrozenClock
from meterly.store import event_stores
from meterly.store.reconciliation_staged import STAGED, STAGING_TABLE
from meterly.store.tables import events
from tests.conftest import ApiClient
from tests.reconciliation.helpers import at, bill, send, setup_world, subscribe

pytestmark = pytest.mark.chdb
runner = CliRunner()


@pytest.fixture(autouse=True)
def events_in_clickhouse(chdb_events: event_stores.ClickHouseEvents) -> Iterator[None]:
    event_stores.configure(chdb_events.url)
    yield
    event_stores.configure(None)


def database_url(api: ApiClient) -> str:
    return api.database.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]


def world(api: ApiClient, clock: FrozenClock) -> None:
    """Customer c (subscription s from Jan 1) and customer d (subscription s2 from Jan 5),
    metric mb (sum of "mb") at $2 a unit; January's events, billed on Feb 1."""
    setup_world(api, extra_metric=False)
    subscribe(api, "d", "s2", at(1, 5, 0))
    send(api, "a", at(1, 10), value=1)
    send(api, "b", at(1, 10, 13), value=2)
    send(api, "b", at(1, 10, 13), value=2, duplicate=True)  # a retry: refused, stored once
    send(api, "c", at(1, 12), value=3)
    send(api, "early", at(1, 4), value=7, sub="s2")  # the day before s2 started
    send(api, "f", at(1, 10), value=4, sub="s2")
    send(api, "g", at(1, 14), value=5, sub="s2")
    with api.database.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0
    bill(api, clock, at(2, 1, 1))


def test_reconcile_reads_the_events_from_clickhouse(api: ApiClient, clock: FrozenClock) -> None:
    world(api, clock)
    clock.advance(timedelta(hours=1))
    send(api, "late", at(1, 12, 18), value=5)  # after c's January invoice was finalized
    res: Any = api.get(
        "reconciliation", params={"from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z"}
    )
    assert res.status_code == 200, res.text
    rows = {
        (r["external_customer_id"], r["code"], r["day"]): (
            r["accepted"],
            r["stored"],
            r["billed"],
            r["pending"],
            r["not_billed_reasons"],
        )
        for r in res.json()["reconciliation"]
    }
    assert rows == {
        # a and b (b's retry stored once): 2 accepted, 2 stored, both on c's January invoice.
        ("c", "mb", "2024-01-10"): (2, 2, 2, 0, {}),
        # c billed; "late" arrived after the invoice of its period was finalized.
        ("c", "mb", "2024-01-12"): (2, 2, 1, 0, {"period already invoiced": 1}),
        # "early" is timestamped Jan 4, s2 started Jan 5: never billed.
        ("d", "mb", "2024-01-04"): (1, 1, 0, 0, {"before subscription start": 1}),
        ("d", "mb", "2024-01-10"): (1, 1, 1, 0, {}),
        ("d", "mb", "2024-01-14"): (1, 1, 1, 0, {}),
    }
    totals = res.json()["totals"]
    # 2 + 2 + 1 + 1 + 1 = 7 stored; 7 − 1 (late) − 1 (early) = 5 billed.
    assert (totals["accepted"], totals["stored"], totals["billed"]) == (7, 7, 5)
    assert totals["not_billed"] == 2
    # A range inside the January period: Jan 12 alone, with the same fates. "late" is the
    # 4th event of the period received (a, b, c before it) and the fee counted 3: it was
    # not counted, which only the whole period's events can tell.
    res = api.get(
        "reconciliation", params={"from": "2024-01-11T00:00:00Z", "to": "2024-01-13T00:00:00Z"}
    )
    assert [
        (r["day"], r["billed"], r["not_billed_reasons"]) for r in res.json()["reconciliation"]
    ] == [("2024-01-12", 1, {"period already invoiced": 1})]
    result = runner.invoke(app, ["reconcile", "--database-url", database_url(api)])
    assert result.exit_code == 0, result.output
    assert "7 events: 5 billed, 0 pending, 2 never billed; 0 accepted but not stored." in (
        result.output
    )
    # The staging table lives on the report's connection only, and is dropped at the end.
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        rows_again = reconciliation.reconcile(session, organization_id=api.org_id)
        assert reconciliation.totals(rows_again)["stored"] == 7
        conn = session.connection()
        assert not inspect(conn).has_table(STAGING_TABLE)
        STAGED.create(conn)  # the probe sees a temporary table when there is one
        assert inspect(conn).has_table(STAGING_TABLE)
        session.rollback()


def test_the_audit_rederives_from_clickhouse(api: ApiClient, clock: FrozenClock) -> None:
    world(api, clock)
    result = runner.invoke(
        app, ["audit", "--database-url", database_url(api), "--from", "2024-02-01"]
    )
    assert result.exit_code == 0, result.output
    # Two January invoices: c's (1 + 2 + 3 = 6 units × $2 = 1200 cents) and d's
    # (4 + 5 = 9 units × $2 = 1800 cents), both re-derived from the ClickHouse events.
    assert "No drift: 2 finalized invoices re-derive to the cent." in result.output


def test_explain_lists_the_events_sent(api: ApiClient, clock: FrozenClock) -> None:
    world(api, clock)
    invoices: Any = api.get("invoices", params={"external_customer_id": "d"})
    (invoice,) = [i for i in invoices.json()["invoices"] if i["fees_amount_cents"]]
    # 4 + 5 = 9 units at $2 = 1800 cents ("early" predates the subscription).
    assert invoice["fees_amount_cents"] == 1800
    res: Any = api.get(f"invoices/{invoice['lago_id']}/explain")
    assert res.status_code == 200, res.text
    (fee,) = [f for f in res.json()["explanation"]["fees"] if f["fee_type"] == "charge"]
    assert fee["usage"]["events_count"] == 2
    listed: Any = api.get(fee["events"]["url"].removeprefix("/api/v1/"))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [e["transaction_id"] for e in body["events"]] == ["f", "g"]
    assert [e["properties"] for e in body["events"]] == [{"mb": 4}, {"mb": 5}]
    assert body["events"][0]["timestamp"].startswith("2024-01-10T12:00:00")
    assert body["meta"]["total_count"] == 2
    # One per page: the second page holds g.
    page2: Any = api.get(f"fees/{fee['lago_fee_id']}/events", params={"page": 2, "per_page": 1})
    assert [e["transaction_id"] for e in page2.json()["events"]] == ["g"]
