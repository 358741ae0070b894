"""`Base.new_row`: a row built without the ORM's instrumentation is written, read back and
changed exactly like one built by the constructor, on both backends (the billing run
builds its fees this way)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import inspect, select

from meterly.services.accounts import create_organization
from meterly.services.common import FrozenClock, new_id
from meterly.store.engine import create_engine
from meterly.store.tables import Customer
from meterly.store.uow import Database

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _values(org_id: str, external_id: str, n: int) -> dict[str, Any]:
    return {
        "id": new_id(),
        "organization_id": org_id,
        "external_id": external_id,
        "sequential_id": n,
        "slug": f"x-{n}",
        "name": "Ada",
        "created_at": T0,
        "updated_at": T0,
    }


def _columns(row: Customer) -> dict[str, Any]:
    skip = {"id", "external_id", "sequential_id", "slug"}
    return {
        a.key: getattr(row, a.key) for a in inspect(row).mapper.column_attrs if a.key not in skip
    }


@pytest.fixture
def database(migrated_db_url: str) -> Any:
    database = Database(create_engine(migrated_db_url))
    yield database
    database.engine.dispose()


def test_a_new_row_is_written_like_a_constructed_one(database: Database) -> None:
    with database.unit_of_work() as session:
        org, _ = create_organization(session, name="Acme", clock=FrozenClock(T0))
        org_id = org.id
        built = Customer(**_values(org_id, "built", 1))
        fast = Customer.new_row(**_values(org_id, "fast", 2))
        # Set after it was made and before the flush: part of its INSERT.
        fast.email = "ada@example.com"
        built.email = "ada@example.com"
        session.add_all([built, fast])
        ids = built.id, fast.id
    with database.unit_of_work() as session:
        built_row, fast_row = (session.get(Customer, i) for i in ids)
        assert built_row is not None and fast_row is not None
        # Every column alike, the defaults filled at the INSERT included.
        assert _columns(fast_row) == _columns(built_row)
        assert fast_row.email == "ada@example.com"
        assert fast_row.currency is None and fast_row.net_payment_term is None


def test_a_new_row_is_changed_later_like_any_other(database: Database) -> None:
    with database.unit_of_work() as session:
        org, _ = create_organization(session, name="Acme", clock=FrozenClock(T0))
        fast = Customer.new_row(**_values(org.id, "fast", 1))
        session.add(fast)
        session.flush()
        # Persistent now: the change is tracked and written by the next flush.
        fast.name = "Grace"
        assert inspect(fast).attrs.name.history.added == ["Grace"]
        fast_id = fast.id
    with database.unit_of_work() as session:
        assert session.scalar(select(Customer.name).where(Customer.id == fast_id)) == "Grace"


def test_a_name_that_is_no_column_is_refused() -> None:
    with pytest.raises(TypeError, match="nickname"):
        Customer.new_row(id=new_id(), nickname="Ada")
