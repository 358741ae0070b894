"""Planning consolidated invoices: which parts go on which invoice, and in what order.

lago-semantics.md item 14, "Consolidation": one invoice per customer per boundary; a plan
change's end and the new subscription's first fees on one invoice; `consolidate_invoice`
false bills a subscription alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from meterly.domain.schedule import BillingBoundary
from meterly.services.billing import PlannedSubscription, customer_batches, plan_invoices

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)
MAR = datetime(2024, 3, 1, tzinfo=UTC)


def boundary(at: datetime) -> BillingBoundary:
    return BillingBoundary(at=at, subscription_fee=None, charges_period=None)


def planned(
    sub_id: str,
    customer: str,
    *instants: datetime,
    consolidate: bool = True,
    external_id: str | None = None,
    termination_at: datetime | None = None,
) -> PlannedSubscription:
    return PlannedSubscription(
        sub_id,
        tuple(boundary(i) for i in instants),
        False,
        customer_id=customer,
        currency="EUR",
        consolidate=consolidate,
        external_id=external_id or sub_id,
        termination_at=termination_at,
    )


def shape(subscriptions: list[PlannedSubscription]) -> list[tuple[str, datetime, list[str]]]:
    return [
        (invoice.customer_id, invoice.at, [part.sub_id for part in invoice.parts])
        for invoice in plan_invoices(subscriptions)
    ]


def test_a_customers_subscriptions_due_at_one_boundary_share_an_invoice() -> None:
    plans = [planned("a", "cust", FEB, MAR), planned("b", "cust", FEB)]
    assert shape(plans) == [("cust", FEB, ["a", "b"]), ("cust", MAR, ["a"])]


def test_different_customers_or_instants_never_share_an_invoice() -> None:
    anniversary = FEB + timedelta(days=14)
    plans = [planned("a", "one", FEB), planned("b", "two", FEB), planned("c", "one", anniversary)]
    assert shape(plans) == [
        ("one", FEB, ["a"]),
        ("one", anniversary, ["c"]),
        ("two", FEB, ["b"]),
    ]


def test_an_opted_out_subscription_is_billed_alone() -> None:
    plans = [planned("a", "cust", FEB), planned("b", "cust", FEB, consolidate=False)]
    assert sorted(parts for _, _, parts in shape(plans)) == [["a"], ["b"]]


def test_a_plan_change_bills_the_old_end_and_the_new_start_together_even_opted_out() -> None:
    # A downgrade: the old subscription ends at FEB (its termination planned at its
    # successor's start), the new one's fee in advance is due at FEB.
    old = planned("old", "cust", termination_at=FEB, consolidate=False, external_id="sub")
    new = planned("new", "cust", FEB, consolidate=False, external_id="sub")
    ((customer, instant, parts),) = shape([old, new])
    assert (customer, instant, parts) == ("cust", FEB, ["old", "new"])
    (invoice,) = plan_invoices([old, new])
    assert [part.boundary for part in invoice.parts] == [None, boundary(FEB)]


instants = st.sampled_from([JAN, FEB, MAR, FEB + timedelta(hours=9)])
subscription_plans = st.lists(
    st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.sets(instants), st.booleans()),
    max_size=12,
)


@given(subscription_plans)
def test_every_planned_boundary_is_on_exactly_one_invoice_in_order(
    rows: list[tuple[str, set[datetime], bool]],
) -> None:
    plans = [
        planned(f"s{n}", customer, *sorted(due), consolidate=consolidate)
        for n, (customer, due, consolidate) in enumerate(rows)
    ]
    invoices = plan_invoices(plans)
    billed = sorted((part.sub_id, invoice.at) for invoice in invoices for part in invoice.parts)
    expected = sorted((p.sub_id, b.at) for p in plans for b in p.boundaries or ())
    assert billed == expected
    for invoice in invoices:
        # One customer per invoice, every part at the invoice's instant.
        owners = {p.customer_id for p in plans if p.sub_id in invoice.sub_ids}
        assert owners == {invoice.customer_id}
        assert all(part.boundary and part.boundary.at == invoice.at for part in invoice.parts)
    # A customer's invoices come oldest first, so each subscription is billed in order.
    for customer in {p.customer_id for p in plans}:
        times = [i.at for i in invoices if i.customer_id == customer]
        assert times == sorted(times)
    # Consolidated subscriptions of one customer due at one instant share one invoice.
    keys = [(i.customer_id, i.at) for i in invoices if _consolidated(i, plans)]
    assert len(keys) == len(set(keys))


def _consolidated(invoice: object, plans: list[PlannedSubscription]) -> bool:
    ids = getattr(invoice, "sub_ids", ())
    return all(p.consolidate for p in plans if p.sub_id in ids)


@given(st.lists(st.sampled_from(["c1", "c2", "c3", "c4"]), max_size=30), st.integers(1, 5))
def test_batches_keep_the_order_and_never_split_a_customer(customers: list[str], size: int) -> None:
    # `due` arrives grouped by customer, as the query orders it.
    due = [(f"s{n}", customer) for n, customer in enumerate(sorted(customers))]
    batches = customer_batches(due, size)
    assert [sub for batch in batches for sub in batch] == [sub for sub, _ in due]
    owner = dict(due)
    seen: set[str] = set()
    for batch in batches:
        here = {owner[sub] for sub in batch}
        assert not here & seen, "a customer split over two batches"
        seen |= here
        # A batch grows past `size` only to finish its last customer.
        assert len(batch) < size or len({owner[sub] for sub in batch[size - 1 :]}) == 1
