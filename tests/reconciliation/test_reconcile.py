"""Reconciliation (API and CLI) and the audit of finalized invoices, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from typer.testing import CliRunner

from meterly.cli.main import app
from meterly.services.common import FrozenClock
from meterly.store.tables import Fee
from tests.conftest import ApiClient
from tests.reconciliation.helpers import at, bill, send, setup_world

runner = CliRunner()


def database_url(api: ApiClient) -> str:
    return api.database.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]


def world(api: ApiClient, clock: FrozenClock) -> None:
    """January: 3 good events on Jan 10 (one sent twice: the retry is refused as a
    duplicate), 1 non-numeric on Jan 10, 1 on
    Jan 12; billed on Feb 1; then a late January event. One event for no subscription."""
    setup_world(api)
    send(api, "a", at(1, 10), value=1)
    send(api, "b", at(1, 10, 13), value=2)
    send(api, "b", at(1, 10, 13), value=2, duplicate=True)  # a retry: refused, stored once
    send(api, "c", at(1, 10, 14), value=3)
    send(api, "bad", at(1, 10, 15), value="lots")
    send(api, "d", at(1, 12), value=4)
    send(api, "ghost", at(1, 12), sub="ghost", value=1)
    bill(api, clock, at(2, 1, 1))
    clock.advance(timedelta(hours=1))
    send(api, "late", at(1, 12, 18), value=5)


def test_the_report_counts_each_day(api: ApiClient, clock: FrozenClock) -> None:
    world(api, clock)
    res: Any = api.get(
        "reconciliation", params={"from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z"}
    )
    assert res.status_code == 200, res.text
    rows = {
        (r["external_customer_id"], r["code"], r["day"]): r for r in res.json()["reconciliation"]
    }
    jan10 = rows[("c", "mb", "2024-01-10")]
    # a, b (once), c, bad: 4 stored; a, b, c billed; bad never.
    assert (jan10["accepted"], jan10["stored"], jan10["billed"]) == (4, 4, 3)
    assert jan10["not_billed_reasons"] == {"value not numeric for a sum/max/weighted metric": 1}
    jan12 = rows[("c", "mb", "2024-01-12")]
    # d billed; late arrived after the January invoice was finalized.
    assert (jan12["stored"], jan12["billed"], jan12["pending"]) == (2, 1, 0)
    assert jan12["not_billed_reasons"] == {"period already invoiced": 1}
    ghost = rows[(None, "mb", "2024-01-12")]
    assert ghost["not_billed_reasons"] == {"no such subscription": 1}
    totals = res.json()["totals"]
    # 4 + 2 + 1 = 7 events; 3 + 1 = 4 billed; 1 + 1 + 1 = 3 never billed.
    assert (totals["stored"], totals["billed"], totals["not_billed"]) == (7, 4, 3)
    bad: Any = api.get("reconciliation", params={"from": "yesterday"})
    assert bad.status_code == 422


def test_the_command_prints_the_same_totals(api: ApiClient, clock: FrozenClock) -> None:
    world(api, clock)
    result = runner.invoke(app, ["reconcile", "--database-url", database_url(api)])
    assert result.exit_code == 0, result.output
    assert "7 events: 4 billed, 0 pending, 3 never billed; 0 accepted but not stored." in (
        result.output
    )
    assert "c\tmb\t2024-01-10\t4\t4\t3\t0\t1\t" in result.output


def test_the_audit_finds_no_drift_then_a_tampered_fee(api: ApiClient, clock: FrozenClock) -> None:
    world(api, clock)
    url = database_url(api)
    result = runner.invoke(app, ["audit", "--database-url", url, "--from", "2024-02-01"])
    assert result.exit_code == 0, result.output
    assert "No drift: 1 finalized invoices re-derive to the cent." in result.output
    # a + b + c + d = 1 + 2 + 3 + 4 = 10 units at 2 dollars = 2000 cents (the late 5 is not
    # counted: it arrived after finalization). Make the stored fee say 2100.
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        fee_id = session.scalar(select(Fee.id).where(Fee.amount_cents == 2000))
        assert fee_id is not None
        session.execute(update(Fee).where(Fee.id == fee_id).values(amount_cents=2100))
    result = runner.invoke(app, ["audit", "--database-url", url])
    assert result.exit_code == 1, result.output
    assert f"{fee_id}\tamount_cents\t2100\t2000" in result.output
    # The invoice's fees total (2000) no longer matches its fees (2100) either.
    assert "fees_amount_cents\t2000\t2100" in result.output
