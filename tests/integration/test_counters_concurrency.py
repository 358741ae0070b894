"""Counters under concurrency (issue 20, point 1): customers created by 16 clients at once
over HTTP, then billed by two workers racing, on SQLite and PostgreSQL.

Every customer gets its own sequential id, every invoice is issued exactly once and its
number is unique, whatever the numbering (per customer or per organization). And a
failure that is not "this boundary is already billed" is reported as an error, never
counted as done: the run lists it and `meterly bill` exits non-zero.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from meterly.cli.main import app as cli_app
from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.sequences import next_value, next_values
from meterly.store.tables import (
    Customer,
    DocumentSequence,
    Invoice,
    InvoiceSubscription,
    Organization,
)
from meterly.store.uow import Database
from tests.conftest import ApiClient, build_api
from tests.integration.live_server import serving

CLIENTS = 16
CUSTOMERS_EACH = 5
FEB_1 = datetime(2024, 2, 1, tzinfo=UTC)
PLAN = {
    "name": "Monthly",
    "code": "monthly",
    "interval": "monthly",
    "amount_cents": 1000,
    "amount_currency": "EUR",
    "pay_in_advance": False,
    "charges": [],
}


def _create_customers_concurrently(base: str, key: str) -> list[int]:
    """16 clients at once, each creating 5 customers and their subscriptions; statuses."""
    barrier = threading.Barrier(CLIENTS)
    statuses: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(
            base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as http:
            barrier.wait()
            for i in range(CUSTOMERS_EACH):
                external_id = f"cust_{n}_{i}"
                answers = [
                    http.post(
                        "/customers",
                        json={"customer": {"external_id": external_id, "currency": "EUR"}},
                    ),
                    http.post(
                        "/subscriptions",
                        json={
                            "subscription": {
                                "external_customer_id": external_id,
                                "plan_code": "monthly",
                                "external_id": f"sub_{n}_{i}",
                                "subscription_at": "2024-01-01T00:00:00Z",
                            }
                        },
                    ),
                ]
                with lock:
                    statuses.extend(answer.status_code for answer in answers)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def _race_two_workers(database: Database) -> list[runs.RunReport]:
    barrier = threading.Barrier(2)
    reports: list[runs.RunReport] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            reports.append(runs.run(database, as_of=FEB_1, clock=FrozenClock(FEB_1)))
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    return reports


@pytest.mark.parametrize("numbering", ["per_customer", "per_organization"])
def test_customers_created_by_16_clients_then_billed_by_two_racing_workers(
    migrated_db_url: str, clock: FrozenClock, numbering: str
) -> None:
    client, (key, org_id, database) = build_api(migrated_db_url, clock, migrate=False)  # type: ignore[misc]
    assert isinstance(database, Database)
    with database.unit_of_work() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == org_id)
            .values(document_numbering=numbering)
        )
        prefix = session.get(Organization, org_id).document_number_prefix  # type: ignore[union-attr]
    try:
        with serving(client.app) as base:  # type: ignore[attr-defined]
            with httpx.Client(
                base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {key}"}
            ) as http:
                assert http.post("/plans", json={"plan": PLAN}).status_code == 200
            statuses = _create_customers_concurrently(base, key)
        # 16 clients x 5 customers = 80 customers, each with one subscription: 160 answers.
        assert Counter(statuses) == {200: 160}
        with database.unit_of_work() as session:
            ids = list(
                session.scalars(
                    select(Customer.sequential_id).where(Customer.organization_id == org_id)
                )
            )
        # Every customer its own id, and no gap: 1..80 handed out once each.
        assert sorted(ids) == list(range(1, 81))

        reports = _race_two_workers(database)
        assert [r.errors for r in reports] == [[], []]
        # 80 subscriptions, one closed month each (January 2024, billed on February 1st):
        # 80 invoices between the two workers, none issued twice.
        assert sum(len(r.invoices) for r in reports) == 80
        with database.unit_of_work() as session:
            invoices = list(session.scalars(select(Invoice)))
            periods = session.scalar(select(func.count()).select_from(InvoiceSubscription))
        assert len(invoices) == 80
        assert periods == 80
        numbers = [invoice.number for invoice in invoices]
        assert None not in numbers and len(set(numbers)) == 80
        if numbering == "per_organization":
            # One organization counter for February 2024: 001 to 080, once each.
            expected = {f"{prefix}-202402-{n:03d}" for n in range(1, 81)}
        else:
            # Each customer's first invoice: <prefix>-<customer id>-001 for ids 1..80.
            expected = {f"{prefix}-{n:03d}-001" for n in range(1, 81)}
        assert set(numbers) == expected
        # Each invoice is January's subscription fee, a full month: 1,000 cents; 80 x 1,000.
        assert sum(r.amount_cents_by_currency.get("EUR", 0) for r in reports) == 80_000
        assert {invoice.total_amount_cents for invoice in invoices} == {1000}
        # A third run finds everything billed and issues nothing.
        again = runs.run(database, as_of=FEB_1, clock=FrozenClock(FEB_1))
        assert (again.invoices, again.errors) == ([], [])
    finally:
        database.engine.dispose()


def test_a_colliding_invoice_number_is_an_error_of_the_run_and_bill_exits_non_zero(
    migrated_db_url: str, clock: FrozenClock
) -> None:
    """A counter set back (a restore from an old copy, say) makes the next number collide:
    that invoice is not issued, and the run must say so instead of "already billed"."""
    client, (key, _org_id, database) = build_api(migrated_db_url, clock, migrate=False)  # type: ignore[misc]
    assert isinstance(database, Database)
    try:
        with client:  # type: ignore[attr-defined]
            headers = {"Authorization": f"Bearer {key}"}
            answer = client.post("/api/v1/plans", json={"plan": PLAN}, headers=headers)  # type: ignore[attr-defined]
            assert answer.status_code == 200
            for external_id in ("cust_a", "cust_b"):
                body = {
                    "external_customer_id": external_id,
                    "plan_code": "monthly",
                    "external_id": f"sub_{external_id}",
                    "subscription_at": "2024-01-01T00:00:00Z",
                }
                answer = client.post(  # type: ignore[attr-defined]
                    "/api/v1/subscriptions", json={"subscription": body}, headers=headers
                )
                assert answer.status_code == 200
        # January for both: two invoices, <prefix>-001-001 and <prefix>-002-001.
        first = runs.run(database, as_of=FEB_1, clock=FrozenClock(FEB_1))
        assert (len(first.invoices), first.errors) == (2, [])
        # Set cust_a's invoice counter back to 0: February's invoice would be numbered
        # <prefix>-001-001 again, the number January's invoice holds.
        with database.unit_of_work() as session:
            cust_a = session.scalar(select(Customer).where(Customer.external_id == "cust_a"))
            assert cust_a is not None
            session.execute(
                update(DocumentSequence)
                .where(DocumentSequence.scope == f"customer:{cust_a.id}")
                .values(last_value=0)
            )
        url = database.engine.url.render_as_string(hide_password=False)
        result = CliRunner().invoke(
            cli_app, ["bill", "--as-of", "2024-03-01T00:00:00Z", "--database-url", url]
        )
        assert result.exit_code == 1, result.output
        # cust_b's February invoice was issued; cust_a's was not, and the run says why.
        assert "errors" in result.output
        assert "IntegrityError" in result.output
        assert "boundary 2024-03-01T00:00:00+00:00" in result.output
        with database.unit_of_work() as session:
            sub_a = session.scalar(
                select(InvoiceSubscription.subscription_id)
                .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
                .where(Invoice.customer_id == cust_a.id)
            )
            count = session.scalar(select(func.count()).select_from(Invoice))
        assert sub_a is not None and sub_a in result.output
        # 2 January invoices + cust_b's February invoice; cust_a's February one is missing.
        assert count == 3
        # And it stays an error on the next run: never counted as "already billed".
        again = runs.run(database, as_of=datetime(2024, 3, 1, tzinfo=UTC), clock=clock)
        assert again.already_billed == 0
        assert [sub for sub, _ in again.errors] == [sub_a]
    finally:
        database.engine.dispose()


def test_counters_bumped_together_continue_one_at_a_time(api: ApiClient) -> None:
    """A billing run's chunk numbers its invoices with one statement (`next_values`): each
    counter moves by its count and the next single bump continues after it."""
    database = api.database
    assert isinstance(database, Database)
    org = api.org_id
    with database.unit_of_work() as session:
        # New counters start at their count: a = 2 (numbers 1, 2), b = 1.
        first = next_values(session, {(org, "test:a"): 2, (org, "test:b"): 1})
        assert first == {(org, "test:a"): 2, (org, "test:b"): 1}
        # Existing ones move by it: a = 2 + 3 = 5 (numbers 3, 4, 5), b = 1 + 1 = 2.
        again = next_values(session, {(org, "test:b"): 1, (org, "test:a"): 3})
        assert again == {(org, "test:a"): 5, (org, "test:b"): 2}
        # One at a time after that: a = 6.
        assert next_value(session, organization_id=org, scope="test:a") == 6
        assert next_values(session, {}) == {}
    with database.unit_of_work() as session:  # committed with the unit of work
        assert next_value(session, organization_id=org, scope="test:b") == 3
