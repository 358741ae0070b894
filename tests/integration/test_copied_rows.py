"""`store.copied_rows.copied`: fees written by COPY (PostgreSQL) are the rows the unit of
work would have written, become ordinary persistent rows, and fail as an INSERT fails.
On SQLite the block changes nothing, and the same assertions hold."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterly.services.accounts import create_organization
from meterly.services.common import FrozenClock, new_id
from meterly.store.copied_rows import copied
from meterly.store.engine import create_engine
from meterly.store.tables import Customer, Fee, Invoice
from meterly.store.uow import Database

T0 = datetime(2024, 2, 1, tzinfo=UTC)


@pytest.fixture
def database(migrated_db_url: str) -> Any:
    database = Database(create_engine(migrated_db_url))
    yield database
    database.engine.dispose()


def _customer(session: Session) -> Customer:
    org, _ = create_organization(session, name="Acme", clock=FrozenClock(T0))
    customer = Customer(
        id=new_id(),
        organization_id=org.id,
        external_id="cust",
        sequential_id=1,
        slug="cust-1",
        created_at=T0,
        updated_at=T0,
    )
    session.add(customer)
    return customer


def _invoice(customer: Customer | Invoice) -> Invoice:
    """A draft invoice of `customer`, or of the customer of the invoice given."""
    customer_id = customer.customer_id if isinstance(customer, Invoice) else customer.id
    return Invoice(
        id=new_id(),
        organization_id=customer.organization_id,
        customer_id=customer_id,
        invoice_type="subscription",
        status="draft",
        payment_status="pending",
        currency="EUR",
        issuing_date=T0,
        payment_due_date=T0,
        net_payment_term=0,
        breakdown={},
        invoice_metadata=[],
        created_at=T0,
        updated_at=T0,
    )


def _fee(invoice: Invoice) -> Fee:
    # Some columns given, some left to their defaults (position, taxes, applied_taxes,
    # amount_details), one JSON column given None (JSON's null, as the ORM writes it).
    return Fee.new_row(
        id=new_id(),
        organization_id=invoice.organization_id,
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
        fee_type="charge",
        item={"code": "calls", "grouped_by": {"region": "eu"}, "filters": None},
        currency="EUR",
        amount_cents=1234,
        precise_amount_cents=Decimal("1234.5678"),
        precise_unit_amount=Decimal("0.000001"),
        units=Decimal("1234567.8"),
        events_count=None,
        explanation=None,
        properties={"from": "2024-01-01"},
        from_datetime=datetime(2024, 1, 1, tzinfo=UTC),
        to_datetime=datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
        created_at=T0,
        updated_at=T0,
    )


def _stored(session: Session, fee_id: str) -> dict[str, Any]:
    row = session.execute(select(Fee.__table__).where(Fee.id == fee_id)).mappings().one()
    return {k: v for k, v in row.items() if k not in ("id", "invoice_id")}


def test_copied_fees_are_the_rows_the_unit_of_work_writes(database: Database) -> None:
    with database.unit_of_work() as session:
        customer = _customer(session)
        first = _invoice(customer)
        by_insert = _fee(first)
        session.add_all([first, by_insert])
        session.flush()
        with copied(session, Fee):
            # The invoice and its fee are new in the same flush: the invoice is written
            # first, then the fee that references it.
            second = _invoice(customer)
            by_copy = _fee(second)
            session.add_all([second, by_copy])
            session.flush()
        # Persistent, clean, holding what was written: reading it costs no query.
        assert inspect(by_copy).persistent and not session.dirty
        assert session.get(Fee, by_copy.id) is by_copy
        statements: list[str] = []
        event.listen(session.connection(), "before_cursor_execute", _record(statements))
        assert by_copy.position == 0 and by_copy.succeeded_at is None
        assert by_copy.applied_taxes == [] and by_copy.explanation is None
        assert statements == []
        ids = by_insert.id, by_copy.id
    with database.unit_of_work() as session:
        inserted, copied_row = (_stored(session, i) for i in ids)
        assert copied_row == inserted
        assert copied_row["precise_amount_cents"] == Decimal("1234.5678")
        assert copied_row["units"] == Decimal("1234567.8")
        assert copied_row["item"] == {
            "code": "calls",
            "grouped_by": {"region": "eu"},
            "filters": None,
        }
        assert copied_row["to_datetime"] == datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_a_copied_fee_changed_later_is_updated(database: Database) -> None:
    with database.unit_of_work() as session:
        invoice = _invoice(_customer(session))
        session.add(invoice)
        with copied(session, Fee):
            fee = _fee(invoice)
            session.add(fee)
            session.flush()
            fee.taxes_amount_cents = 247
            session.flush()
        fee_id = fee.id
    with database.unit_of_work() as session:
        assert session.scalar(select(Fee.taxes_amount_cents).where(Fee.id == fee_id)) == 247


def test_fees_alone_in_a_flush_are_written(database: Database) -> None:
    """Nothing else pending: the flush would end before writing anything, the fees too."""
    with database.unit_of_work() as session:
        invoice = _invoice(_customer(session))
        session.add(invoice)
        session.flush()
        with copied(session, Fee):
            fees = [_fee(invoice), _fee(invoice)]
            session.add_all(fees)
            # A query's autoflush finds them written.
            found = session.scalars(select(Fee.id).where(Fee.invoice_id == invoice.id)).all()
        assert sorted(found) == sorted(f.id for f in fees)
        assert all(inspect(f).persistent for f in fees)
        invoice_id = invoice.id
    with database.unit_of_work() as session:
        assert len(session.scalars(select(Fee.id).where(Fee.invoice_id == invoice_id)).all()) == 2


def test_a_copy_that_breaks_a_key_fails_like_an_insert_and_writes_nothing(
    database: Database,
) -> None:
    with database.unit_of_work() as session:
        invoice = _invoice(_customer(session))
        session.add(invoice)
        org_id = invoice.organization_id
    orphan = Invoice(id=new_id(), organization_id=org_id, customer_id=new_id())
    with (
        pytest.raises(IntegrityError),
        database.unit_of_work() as session,
        copied(session, Fee),
    ):
        session.add(_fee(orphan))  # its invoice does not exist
        session.flush()
    with database.unit_of_work() as session:
        assert session.scalars(select(Fee.id)).all() == []


def test_rows_taken_by_a_failed_flush_are_not_written_by_the_next(database: Database) -> None:
    with database.unit_of_work() as session:
        invoice = _invoice(_customer(session))
        session.add(invoice)
    with Session(database.engine) as session, copied(session, Fee):
        # The stray invoice's customer does not exist: its INSERT fails, after the fee
        # that goes with it was taken out of the flush.
        stray = _invoice(invoice)
        stray.customer_id = new_id()
        session.add_all([stray, _fee(stray)])
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
        kept = _fee(invoice)
        # Another invoice new in the flush: the fee is taken out of it and written after.
        session.add_all([_invoice(invoice), kept])
        session.flush()
        session.commit()
        kept_id = kept.id
    with database.unit_of_work() as session:
        assert session.scalars(select(Fee.id)).all() == [kept_id]


def _record(statements: list[str]) -> Any:
    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    return before
