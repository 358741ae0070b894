"""store.integrity.violates: which unique key a failed write ran into, on both backends.

The billing run counts a boundary as "already billed" only when the exactly-once key is
the one violated; these cases pin that down with two keys of one table.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from meterly.services.accounts import create_organization
from meterly.services.common import FrozenClock, new_id
from meterly.store.engine import create_engine
from meterly.store.integrity import violates
from meterly.store.tables import Customer
from meterly.store.uow import Database

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SEQUENCE_KEY = "uq_customers_sequential_id"
EXTERNAL_KEY = "uq_customers_external_id"
BILLING_KEY = "uq_invoice_subscriptions_period"


def _customer(org_id: str, external_id: str, n: int) -> Customer:
    return Customer(
        id=new_id(),
        organization_id=org_id,
        external_id=external_id,
        sequential_id=n,
        slug=f"x-{n}",
        created_at=T0,
        updated_at=T0,
    )


def _duplicate(database: Database, org_id: str, external_id: str, n: int) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught, database.unit_of_work() as session:
        session.add(_customer(org_id, external_id, n))
    return caught.value


def test_each_unique_key_is_told_apart(migrated_db_url: str) -> None:
    database = Database(create_engine(migrated_db_url))
    try:
        with database.unit_of_work() as session:
            org, _ = create_organization(session, name="Acme", clock=FrozenClock(T0))
            session.add(_customer(org.id, "a", 1))
            org_id = org.id
        # Same sequential id, another external id: the sequence key only.
        same_number = _duplicate(database, org_id, "b", 1)
        assert violates(same_number, SEQUENCE_KEY)
        assert not violates(same_number, EXTERNAL_KEY)
        assert not violates(same_number, BILLING_KEY)
        # Same external id, another sequential id: the external id key only.
        same_external = _duplicate(database, org_id, "a", 2)
        assert violates(same_external, EXTERNAL_KEY)
        assert not violates(same_external, SEQUENCE_KEY)
        assert not violates(same_external, BILLING_KEY)
    finally:
        database.engine.dispose()
