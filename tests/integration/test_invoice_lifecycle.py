"""The invoice lifecycle service on every backend: numbering, concurrency, overdue, webhooks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from meterly.domain.errors import NotAllowed
from meterly.services.accounts import create_organization
from meterly.services.billing import invoices
from meterly.services.common import FrozenClock, new_id
from meterly.store.engine import create_engine
from meterly.store.schema import upgrade
from meterly.store.tables import Invoice, Organization, WebhookEndpoint
from meterly.store.uow import Database
from tests.e2e.test_invoices_api import make_invoice

NOW = datetime(2024, 2, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(create_engine(db_url))
    upgrade(db.engine)
    yield db
    db.engine.dispose()


@pytest.fixture
def org_id(database: Database, clock: FrozenClock) -> str:
    with database.unit_of_work() as session:
        org, _key = create_organization(session, name="Acme", clock=clock)
        org.document_number_prefix = "ACM"
        return org.id


def draft(database: Database, org_id: str, **kw: object) -> str:
    with database.unit_of_work() as session:
        return make_invoice(session, org_id, **kw).id  # type: ignore[arg-type]


def finalize(database: Database, invoice_id: str, clock: FrozenClock) -> Invoice:
    with database.unit_of_work() as session:
        row = session.get(Invoice, invoice_id)
        assert row is not None
        return invoices.finalize(session, invoice=row, clock=clock)


def test_finalize_sets_number_sequence_and_timestamps(
    database: Database, org_id: str, clock: FrozenClock
) -> None:
    row = finalize(database, draft(database, org_id), clock)
    assert row.status == "finalized"
    assert row.number == "ACM-001-001"
    assert row.sequential_id == 1
    assert row.finalized_at == NOW
    assert row.payment_status == "pending"


def test_finalize_twice_is_not_allowed(database: Database, org_id: str, clock: FrozenClock) -> None:
    invoice_id = draft(database, org_id)
    finalize(database, invoice_id, clock)
    with pytest.raises(NotAllowed):
        finalize(database, invoice_id, clock)


def test_numbers_never_repeat_under_concurrency(
    database: Database, org_id: str, clock: FrozenClock
) -> None:
    """Several workers finalize drafts of one customer at once: distinct, gapless numbers."""
    ids = [draft(database, org_id) for _ in range(8)]
    barrier = threading.Barrier(len(ids))
    numbers: list[str] = []
    errors: list[BaseException] = []

    def work(invoice_id: str) -> None:
        try:
            barrier.wait(timeout=30)
            row = finalize(database, invoice_id, clock)
            assert row.number is not None
            numbers.append(row.number)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(numbers) == [f"ACM-001-{n:03d}" for n in range(1, 9)]


def test_per_organization_numbers_restart_each_month(
    database: Database, org_id: str, clock: FrozenClock
) -> None:
    with database.unit_of_work() as session:
        org = session.get(Organization, org_id)
        assert org is not None
        org.document_numbering = "per_organization"
    jan = draft(database, org_id, issuing_date=datetime(2024, 1, 1, tzinfo=UTC))
    feb_1 = draft(database, org_id, external_customer_id="a")
    feb_2 = draft(database, org_id, external_customer_id="b")
    got = [finalize(database, i, clock).number for i in (feb_1, jan, feb_2)]
    assert got == ["ACM-202402-001", "ACM-202401-001", "ACM-202402-002"]


def test_mark_overdue(database: Database, org_id: str, clock: FrozenClock) -> None:
    late = draft(database, org_id, net_payment_term=5)  # due 2024-02-06
    due_today = draft(database, org_id, net_payment_term=9)  # due 2024-02-10
    paid = draft(database, org_id, net_payment_term=0)
    still_draft = draft(database, org_id, net_payment_term=0)
    for invoice_id in (late, due_today, paid):
        finalize(database, invoice_id, clock)
    with database.unit_of_work() as session:
        row = session.get(Invoice, paid)
        assert row is not None
        invoices.update(
            session, invoice=row, payment_status="succeeded", metadata=None, clock=clock
        )
    with database.unit_of_work() as session:
        assert invoices.mark_overdue(session, clock=clock) == 1
        assert invoices.mark_overdue(session, clock=clock) == 0
    with database.sessions() as session:
        overdue = {
            i.id: i.payment_overdue
            for i in session.scalars(select(Invoice).where(Invoice.organization_id == org_id))
        }
    assert overdue == {late: True, due_today: False, paid: False, still_draft: False}
    clock.advance(timedelta(days=1))
    with database.unit_of_work() as session:
        assert invoices.mark_overdue(session, clock=clock, organization_id=org_id) == 1


def test_lifecycle_webhooks_go_to_the_outbox(
    database: Database, org_id: str, clock: FrozenClock
) -> None:
    from meterly.store.tables import Webhook

    with database.unit_of_work() as session:
        session.add(
            WebhookEndpoint(
                id=new_id(),
                organization_id=org_id,
                webhook_url="https://hooks.example/lago",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    invoice_id = draft(database, org_id, net_payment_term=1)
    finalize(database, invoice_id, clock)
    with database.unit_of_work() as session:
        row = session.get(Invoice, invoice_id)
        assert row is not None
        invoices.update(session, invoice=row, payment_status="failed", metadata=None, clock=clock)
        invoices.mark_overdue(session, clock=clock)
        invoices.void(session, invoice=row, clock=clock)
    with database.sessions() as session:
        types = list(
            session.scalars(
                select(Webhook.webhook_type)
                .where(Webhook.object_id == invoice_id)
                .order_by(Webhook.created_at, Webhook.webhook_type)
            )
        )
    assert sorted(types) == sorted(
        [
            "invoice.created",
            "invoice.payment_status_updated",
            "invoice.payment_overdue",
            "invoice.voided",
        ]
    )


def test_delete_draft_keeps_the_billing_period(
    database: Database, org_id: str, clock: FrozenClock
) -> None:
    invoice_id = draft(database, org_id)
    with database.unit_of_work() as session:
        row = session.get(Invoice, invoice_id)
        assert row is not None
        invoices.delete_draft(session, invoice=row, clock=clock)
        assert row.status == "deleted"
        assert row.fees == []
        assert len(row.periods) == 1
    with database.sessions() as session, pytest.raises(Exception, match="invoice"):
        invoices.find(session, organization_id=org_id, invoice_id=invoice_id)


def test_next_sequence_is_per_scope(database: Database, org_id: str) -> None:
    with database.unit_of_work() as session:
        a = [invoices.next_sequence(session, organization_id=org_id, scope="x") for _ in range(3)]
        b = invoices.next_sequence(session, organization_id=org_id, scope="y")
    assert a == [1, 2, 3]
    assert b == 1


def test_finalizing_a_zero_invoice_marks_it_paid(
    database: Database, org_id: str, clock: FrozenClock
) -> None:
    row = finalize(
        database, draft(database, org_id, subscription_cents=0, with_charge=False), clock
    )
    assert row.payment_status == "succeeded"
