"""Property: original invoice − credit note + correction invoice == billing the corrected events.

For random January events on a graduated charge, random voids and amendments after the
invoice is final, then a correction run: the fees of the original invoice, less the credit
note's items, plus the correction invoice's fees, equal to the cent the fees of a twin
subscription that only ever received the corrected events, billed the same way. (Fees
before taxes: taxes are rounded once per document, so three documents may round a cent
differently than one.) SQLite only, each example on its own customers in one database.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from meterly.services.common import FrozenClock
from meterly.store.tables import CreditNote, Customer, Invoice
from tests.conftest import ApiClient
from tests.reconciliation.helpers import at, bill, send, setup_world, subscribe

GRADUATED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "1.5", "flat_amount": "1"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "0.37", "flat_amount": "0"},
    ]
}
_counter = itertools.count()

# Per event: its value, and what happens to it after January is final.
changes = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=30),
        st.one_of(st.none(), st.just("void"), st.integers(min_value=0, max_value=30)),
    ),
    min_size=1,
    max_size=6,
)


def _fees(api: ApiClient, customer: str) -> tuple[int, int, int]:
    """(first invoice's fees, credit notes' items, later invoices' fees) of a customer."""
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        cid = session.scalar(select(Customer.id).where(Customer.external_id == customer))
        invoices = list(
            session.scalars(
                select(Invoice).where(Invoice.customer_id == cid).order_by(Invoice.created_at)
            )
        )
        noted = session.scalar(
            select(
                func.coalesce(func.sum(CreditNote.sub_total_excluding_taxes_amount_cents), 0)
            ).where(CreditNote.customer_id == cid)
        )
        first, rest = invoices[0].fees_amount_cents, sum(i.fees_amount_cents for i in invoices[1:])
        return first, int(noted or 0), rest


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=changes)
def test_corrections_equal_rebilling(
    sqlite_api: ApiClient, clock: FrozenClock, changes: list[tuple[int, Any]]
) -> None:
    n = next(_counter)
    if n == 0:
        setup_world(sqlite_api, charge_model="graduated", properties=GRADUATED, extra_metric=False)
    clock.set(at(1, 15))
    corrected, twin = f"c{n}", f"t{n}"
    subscribe(sqlite_api, corrected, f"s{n}", at(1, 1, 0))
    subscribe(sqlite_api, twin, f"r{n}", at(1, 1, 0))
    for i, (value, change) in enumerate(changes):
        send(sqlite_api, f"{n}-{i}", at(1, 2 + i), value=value, sub=f"s{n}")
        final = value if change is None else change
        if final != "void":
            send(sqlite_api, f"{n}-t{i}", at(1, 2 + i), value=final, sub=f"r{n}")
    bill(sqlite_api, clock, at(2, 1, 1))
    clock.set(at(2, 1, 2))
    for i, (_value, change) in enumerate(changes):
        if change == "void":
            res: Any = sqlite_api.delete(f"events/{n}-{i}")
        elif change is not None:
            res = sqlite_api.post(
                f"events/{n}-{i}/amend", {"event": {"properties": {"mb": change}}}
            )
        else:
            continue
        assert res.status_code == 200, res.text
    bill(sqlite_api, clock, at(2, 1, 1) + timedelta(hours=2))
    original, credited, corrections_fees = _fees(sqlite_api, corrected)
    rebilled, _, _ = _fees(sqlite_api, twin)
    assert original - credited + corrections_fees == rebilled
