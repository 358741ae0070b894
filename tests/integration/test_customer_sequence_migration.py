"""Migration 0010: customers' sequential ids already shared are repaired, the counter
starts after the highest, and the unique index holds, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from meterly.services.accounts import create_organization
from meterly.services.accounts.customers import CustomerInput, upsert
from meterly.services.common import FrozenClock, new_id
from meterly.store.engine import create_engine
from meterly.store.schema import upgrade
from meterly.store.tables import Customer, DocumentSequence
from meterly.store.uow import Database

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_shared_ids_are_renumbered_and_the_counter_continues_after_the_highest(
    db_url: str,
) -> None:
    database = Database(create_engine(db_url))
    try:
        upgrade(database.engine, "0009")
        clock = FrozenClock(T0)
        with database.unit_of_work() as session:
            org, _ = create_organization(session, name="Acme", clock=clock)
            prefix = org.document_number_prefix
            # The bug's leftovers: a and b created concurrently both got 2; c got 3.
            for name, n, minutes in (("first", 1, 0), ("a", 2, 1), ("b", 2, 2), ("c", 3, 3)):
                session.add(
                    Customer(
                        id=new_id(),
                        organization_id=org.id,
                        external_id=name,
                        sequential_id=n,
                        slug=f"{prefix}-{n:03d}",
                        created_at=T0 + timedelta(minutes=minutes),
                        updated_at=T0,
                    )
                )
            org_id = org.id
        upgrade(database.engine)
        with database.unit_of_work() as session:
            rows = session.execute(
                select(Customer.external_id, Customer.sequential_id, Customer.slug)
            ).all()
            ids = {external_id: n for external_id, n, _ in rows}
            slugs = {external_id: slug for external_id, _, slug in rows}
            counter = session.get(DocumentSequence, (org_id, "customers"))
        # a was created before b, so a keeps 2; b gets the next after the highest (3): 4.
        assert ids == {"first": 1, "a": 2, "b": 4, "c": 3}
        assert slugs["b"] == f"{prefix}-004"
        assert counter is not None and counter.last_value == 4
        with database.unit_of_work() as session:
            created, _ = upsert(
                session, organization_id=org_id, data=CustomerInput("d"), clock=clock
            )
            # The counter stood at 4: the next customer is number 5.
            assert (created.sequential_id, created.slug) == (5, f"{prefix}-005")
        # The index refuses a repeat that would slip past the counter.
        with pytest.raises(IntegrityError), database.unit_of_work() as session:
            session.add(
                Customer(
                    id=new_id(),
                    organization_id=org_id,
                    external_id="e",
                    sequential_id=5,
                    slug="x",
                    created_at=T0,
                    updated_at=T0,
                )
            )
    finally:
        database.engine.dispose()
