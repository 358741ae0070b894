"""Every stored event billing will ignore is flagged with its reason, on both backends.

Lago accepts such events at ingestion (200), so Meterly stores them too; the classifier
says why each will never be billed, in GET /events, GET /events/{id} and the dashboard.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from meterly.services.common import FrozenClock
from meterly.web.app import install_web
from tests.conftest import ApiClient
from tests.e2e.test_dashboard import sign_in
from tests.reconciliation.helpers import at, bill, send, setup_world


def fates(api: ApiClient) -> dict[str, tuple[str, str | None]]:
    res: Any = api.get("events", params={"per_page": 100})
    assert res.status_code == 200, res.text
    return {
        e["transaction_id"]: (e["billing_status"], e["not_billed_reason"])
        for e in res.json()["events"]
    }


def test_each_reason_is_flagged(api: ApiClient, clock: FrozenClock) -> None:
    # Clock: 2024-01-15 12:00; subscription `s` started 2024-01-01 on plan `metered`,
    # which charges metric `mb` (sum of "mb") but not metric `calls`.
    setup_world(api)
    send(api, "ok", at(1, 10), value=5)
    send(api, "lots", at(1, 10), value="lots")  # "mb": "lots" cannot be summed
    send(api, "missing", at(1, 10))  # no "mb" at all: nothing to sum either
    send(api, "nope", at(1, 10), code="nope")  # no metric has this code
    send(api, "ghost", at(1, 10), sub="ghost", value=1)  # no subscription "ghost"
    send(api, "early", at(12, 20, year=2023), value=1)  # before 2024-01-01
    send(api, "calls", at(1, 10), code="calls")  # a metric the plan does not charge
    send(api, "y1969", datetime(1969, 7, 20, tzinfo=UTC), value=1)  # before 2000
    send(api, "y5138", datetime(5138, 7, 20, tzinfo=UTC), value=1)  # far in the future
    send(api, "soon", at(1, 16, 11), value=1)  # 23 h after reception: plausible
    send(api, "later", at(1, 16, 13), value=1)  # 25 h after reception: implausible
    # January is billed at 2024-02-01 01:00 (no grace period: finalized at once).
    bill(api, clock, at(2, 1, 1))
    clock.advance(timedelta(hours=1))
    send(api, "late", at(1, 20), value=3)  # January is already on a finalized invoice
    send(api, "feb", at(2, 1, 0), value=3)  # February is still open
    assert api.delete("subscriptions/s").status_code == 200  # type: ignore[attr-defined]
    clock.advance(timedelta(hours=1))
    send(api, "after", clock.now() - timedelta(minutes=1), value=1)  # after termination

    found = fates(api)
    assert found["ok"] == ("billed", None)
    assert found["soon"] == ("billed", None)
    assert found["lots"] == ("not_billed", "value not numeric for a sum/max/weighted metric")
    assert found["missing"] == ("not_billed", "value not numeric for a sum/max/weighted metric")
    assert found["nope"] == ("not_billed", "unknown metric")
    assert found["ghost"] == ("not_billed", "no such subscription")
    assert found["early"] == ("not_billed", "before subscription start")
    assert found["calls"] == ("not_billed", "metric not charged by the plan")
    assert found["y1969"] == ("not_billed", "timestamp implausible")
    assert found["y5138"] == ("not_billed", "timestamp implausible")
    assert found["later"] == ("not_billed", "timestamp implausible")
    assert found["late"] == ("not_billed", "period already invoiced")
    assert found["after"] == ("not_billed", "after termination")
    # The termination invoice (2024-02-01 00:00 to the termination at 02:00, finalized
    # then) counted "feb".
    assert found["feb"] == ("billed", None)

    one: Any = api.get("events/lots")
    assert one.json()["event"]["not_billed_reason"] == (
        "value not numeric for a sum/max/weighted metric"
    )


def test_an_open_period_is_pending(api: ApiClient, clock: FrozenClock) -> None:
    setup_world(api)
    send(api, "now", at(1, 14), value=2)
    found = fates(api)
    assert found["now"] == ("pending", None)


def test_the_explorer_pages_and_filters_by_reason(api: ApiClient, clock: FrozenClock) -> None:
    setup_world(api)
    # 60 events for a metric nobody defined, then one good event: the filter must find
    # unbillable events beyond the first page of 50.
    for i in range(60):
        send(api, f"nope-{i:02}", at(1, 10) + timedelta(minutes=i), code="nope")
    send(api, "good", at(1, 11), value=1)
    install_web(api.client.app)
    sign_in(api)
    page1 = api.client.get("/dashboard/events?problems=1").text
    assert "61 events" not in page1 and "60 events, page 1 of 2" in page1
    assert "good" not in page1.split("<tbody>")[1]
    page2 = api.client.get("/dashboard/events?problems=1&page=2").text
    # Newest first: page 2 holds the 10 oldest, nope-00 .. nope-09.
    assert "nope-00" in page2 and "nope-09" in page2 and "nope-10" not in page2
    by_reason = api.client.get("/dashboard/events?reason=unknown+metric").text
    assert "60 events" in by_reason
    overview = api.client.get("/dashboard").text
    assert "Events that will not be billed" in overview
    # The overview's row for the reason: its count, linked to the explorer's filter.
    assert 'unknown metric</a></td><td class="num">60<' in overview
    assert 'before subscription start</td><td class="num">0<' in overview
