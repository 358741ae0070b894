"""Migration 0010: customers' sequential ids already shared are repaired, the counter
starts after the highest, and the unique index holds, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Connection, MetaData, Table, inspect, select
from sqlalchemy.exc import IntegrityError

from meterly.services.accounts.customers import CustomerInput, upsert
from meterly.services.common import FrozenClock, new_id
from meterly.store.engine import create_engine
from meterly.store.schema import upgrade
from meterly.store.tables import Customer, DocumentSequence, Organization
from meterly.store.uow import Database

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _insert_as_of(conn: Connection, table: Table, **values: Any) -> None:
    """Insert a row into a table as an older schema has it: only its columns, with the
    table's scalar defaults for those not given."""
    existing = {c["name"] for c in inspect(conn).get_columns(table.name)}
    columns = [c for c in table.columns if c.name in existing]
    old = Table(table.name, MetaData(), *(Column(c.name, c.type) for c in columns))
    row = {}
    for c in columns:
        if c.name in values:
            row[c.name] = values[c.name]
        elif c.default is not None and c.default.is_scalar:
            row[c.name] = c.default.arg  # type: ignore[attr-defined]
    conn.execute(old.insert().values(**row))


def test_shared_ids_are_renumbered_and_the_counter_continues_after_the_highest(
    db_url: str,
) -> None:
    database = Database(create_engine(db_url))
    try:
        upgrade(database.engine, "0009")
        clock = FrozenClock(T0)
        # The schema is 0009's: rows are written with its columns only, not today's tables.
        org_id, prefix = new_id(), "ACM-0001"
        with database.engine.begin() as conn:
            _insert_as_of(
                conn,
                Organization.__table__,
                id=org_id,
                name="Acme",
                document_number_prefix=prefix,
                hmac_key="k" * 32,
                profile={},
                billing_configuration={},
                created_at=T0,
                updated_at=T0,
            )
            # The bug's leftovers: a and b created concurrently both got 2; c got 3.
            for name, n, minutes in (("first", 1, 0), ("a", 2, 1), ("b", 2, 2), ("c", 3, 3)):
                _insert_as_of(
                    conn,
                    Customer.__table__,
                    id=new_id(),
                    organization_id=org_id,
                    external_id=name,
                    sequential_id=n,
                    slug=f"{prefix}-{n:03d}",
                    tax_codes=[],
                    profile={},
                    billing_configuration={},
                    metadata=[],
                    created_at=T0 + timedelta(minutes=minutes),
                    updated_at=T0,
                )
        clock = FrozenClock(T0)
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
