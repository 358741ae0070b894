"""Event corrections through HTTP, on SQLite and PostgreSQL: void, amend, late events.

World (tests/reconciliation/helpers.py): metric `mb` (sum of "mb"), plan `metered` charging
$2 per mb, customer `c` subscribed (`s`) from 2024-01-01; a 20 % VAT on the organization.
January is billed at 2024-02-01 01:00 and finalized at once (no grace period).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from meterly.services import corrections
from meterly.services.common import FrozenClock
from tests.conftest import ApiClient
from tests.reconciliation.helpers import at, bill, send, setup_world


def world(api: ApiClient, clock: FrozenClock) -> dict[str, Any]:
    """January: e1 = 5 mb, e2 = 3 mb, billed. 8 × $2 = $16.00 = 1600, VAT 320, total 1920."""
    res: Any = api.post(
        "taxes",
        {"tax": {"name": "VAT", "code": "vat", "rate": "20", "applied_to_organization": True}},
    )
    assert res.status_code == 200, res.text
    setup_world(api, extra_metric=False)
    send(api, "e1", at(1, 10), value=5)
    send(api, "e2", at(1, 11), value=3)
    bill(api, clock, at(2, 1, 1))
    invoices = listing(api, "invoices")
    assert len(invoices) == 1
    assert invoices[0]["total_amount_cents"] == 1920
    return dict(invoices[0])


def listing(api: ApiClient, path: str) -> list[dict[str, Any]]:
    res: Any = api.get(path, params={"per_page": 100})
    assert res.status_code == 200, res.text
    return list(res.json()[path])


def later(api: ApiClient, clock: FrozenClock, hours: int) -> None:
    """The next billing run, `hours` after the first one."""
    bill(api, clock, at(2, 1, 1) + timedelta(hours=hours))


def test_void_after_finalization_issues_a_credit_note(api: ApiClient, clock: FrozenClock) -> None:
    original = world(api, clock)
    clock.set(at(2, 1, 2))
    res: Any = api.delete("events/e2")
    assert res.status_code == 200, res.text
    assert res.json()["event"]["voided_at"] == "2024-02-01T02:00:00Z"
    later(api, clock, 2)
    notes = listing(api, "credit_notes")
    assert len(notes) == 1
    note = notes[0]
    # The events now give 5 × $2 = 1000 against 1600 billed: 600 back, + 20 % = 720.
    assert note["sub_total_excluding_taxes_amount_cents"] == 600
    assert note["taxes_amount_cents"] == 120
    assert note["total_amount_cents"] == 720
    assert note["reason"] == "other"
    assert original["number"] in note["description"] and "e2 (void)" in note["description"]
    # The original invoice is untouched.
    res = api.get(f"invoices/{original['lago_id']}")
    assert res.json()["invoice"]["fees_amount_cents"] == 1600
    # A second run issues nothing more.
    later(api, clock, 3)
    assert len(listing(api, "credit_notes")) == 1
    assert len(listing(api, "invoices")) == 1


def test_amend_up_issues_a_correction_invoice(api: ApiClient, clock: FrozenClock) -> None:
    original = world(api, clock)
    clock.set(at(2, 1, 2))
    res: Any = api.post("events/e1/amend", {"event": {"properties": {"mb": 10}}})
    assert res.status_code == 200, res.text
    assert res.json()["event"]["properties"] == {"mb": 10}
    later(api, clock, 2)
    invoices = [i for i in listing(api, "invoices") if i["lago_id"] != original["lago_id"]]
    assert len(invoices) == 1
    fix = invoices[0]
    # (10 + 3) × $2 = 2600 against 1600 billed: 1000 more, + 20 % = 1200.
    assert fix["fees_amount_cents"] == 1000
    assert fix["taxes_amount_cents"] == 200
    assert fix["total_amount_cents"] == 1200
    assert fix["status"] == "finalized"
    assert listing(api, "credit_notes") == []
    # Explainable: the fee cites the amended event and the original invoice.
    res = api.get(f"invoices/{fix['lago_id']}/explain")
    assert res.status_code == 200, res.text
    fee = res.json()["explanation"]["fees"][0]
    details = fee["amount_details"]
    assert details["original_invoice_number"] == original["number"]
    assert details["difference_cents"] == 1000
    assert [e["transaction_id"] for e in details["corrected_events"]] == ["e1"]
    assert fee["totals"]["lines_sum_in_cents"] == "1000"  # 26.00 − 16.00 = 10.00
    later(api, clock, 3)
    assert len(listing(api, "invoices")) == 2


def test_a_draft_is_refreshed_not_corrected(api: ApiClient, clock: FrozenClock) -> None:
    res: Any = api.put(
        "organizations", {"organization": {"billing_configuration": {"invoice_grace_period": 3}}}
    )
    assert res.status_code == 200, res.text
    setup_world(api, extra_metric=False)
    send(api, "e1", at(1, 10), value=5)
    send(api, "e2", at(1, 11), value=3)
    bill(api, clock, at(2, 1, 1))
    (draft,) = listing(api, "invoices")
    assert draft["status"] == "draft" and draft["fees_amount_cents"] == 1600  # 8 × $2
    assert api.delete("events/e2").status_code == 200  # type: ignore[attr-defined]
    later(api, clock, 1)
    res = api.put(f"invoices/{draft['lago_id']}/refresh")
    assert res.status_code == 200, res.text
    assert res.json()["invoice"]["fees_amount_cents"] == 1000  # 5 × $2
    assert listing(api, "credit_notes") == []


def test_late_event_is_flagged_when_off_and_billed_when_on(
    api: ApiClient, clock: FrozenClock
) -> None:
    world(api, clock)
    clock.set(at(2, 1, 2))
    send(api, "late", at(1, 20), value=2)
    later(api, clock, 2)
    res: Any = api.get("events/late")
    assert res.json()["event"]["not_billed_reason"] == "period already invoiced"
    assert len(listing(api, "invoices")) == 1
    res = api.put("organizations", {"organization": {"accept_late_events": True}})
    assert res.status_code == 200, res.text
    assert res.json()["organization"]["accept_late_events"] is True
    later(api, clock, 3)
    invoices = listing(api, "invoices")
    assert len(invoices) == 2
    # (5 + 3 + 2) × $2 = 2000 against 1600: 400 more, + 20 % = 480.
    fix = next(i for i in invoices if i["fees_amount_cents"] != 1600)
    assert fix["fees_amount_cents"] == 400 and fix["total_amount_cents"] == 480
    res = api.get("events/late")
    assert res.json()["event"]["billing_status"] == "billed"
    later(api, clock, 4)
    assert len(listing(api, "invoices")) == 2


def test_current_usage_forgets_a_voided_event(api: ApiClient, clock: FrozenClock) -> None:
    setup_world(api, extra_metric=False)
    send(api, "e1", at(1, 10), value=5)
    send(api, "e2", at(1, 11), value=3)

    def usage() -> int:
        res: Any = api.get("customers/c/current_usage", params={"external_subscription_id": "s"})
        assert res.status_code == 200, res.text
        return int(res.json()["customer_usage"]["amount_cents"])

    assert usage() == 1600  # 8 × $2, now cached
    assert api.delete("events/e2").status_code == 200  # type: ignore[attr-defined]
    assert usage() == 1000  # 5 × $2: the cached entry no longer matches
    res: Any = api.post("events/e1/amend", {"event": {"properties": {"mb": 1}}})
    assert res.status_code == 200, res.text
    assert usage() == 200  # 1 × $2


def test_bad_input_changes_nothing(api: ApiClient, clock: FrozenClock) -> None:
    world(api, clock)
    res: Any = api.delete("events/nope")
    assert res.status_code == 404
    assert res.json() == {"status": 404, "error": "Not Found", "code": "event_not_found"}
    res = api.post("events/e1/amend", {"event": {"properties": "ten"}})
    assert res.status_code == 422
    assert res.json()["error_details"] == {"properties": ["value_is_invalid"]}
    res = api.post("events/e1/amend", {"event": {"timestamp": "yesterday"}})
    assert res.status_code == 422
    res = api.post("events/e1/amend", {"nothing": {}})
    assert res.status_code == 400
    assert api.delete("events/e2").status_code == 200  # type: ignore[attr-defined]
    res = api.delete("events/e2")
    assert res.status_code == 405 and res.json()["code"] == "event_voided"
    res = api.get("events/e1")
    assert res.json()["event"]["properties"] == {"mb": 5}


def test_the_correction_run_alone(api: ApiClient, clock: FrozenClock) -> None:
    """`meterly bill --corrections` runs this: only the corrections, nothing billed."""
    world(api, clock)
    assert api.delete("events/e1").status_code == 200  # type: ignore[attr-defined]
    done = corrections.run(api.database, clock=FrozenClock(at(2, 1, 3)))  # type: ignore[arg-type]
    assert done.invoices_examined == 1 and len(done.credit_notes) == 1
    assert done.corrections_applied == 1 and done.errors == []
    again = corrections.run(api.database, clock=FrozenClock(at(2, 1, 4)))  # type: ignore[arg-type]
    assert again.invoices_examined == 0 and again.credit_notes == []
