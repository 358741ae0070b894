"""A billing run killed half-way and started again, and concurrent workers: never a missing
or duplicated invoice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.services.runs.billing_run import CHUNK
from meterly.store.tables import Invoice, InvoiceSubscription


def at(year: int, month: int, day: int = 1, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def catalogue(api: Any, subscriptions: int, per_customer: int = 1) -> None:
    """`subscriptions` monthly subscriptions from 2020-01-01, `per_customer` per customer."""
    calls = api.post(
        "billable_metrics",
        {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
    ).json()["billable_metric"]
    plan = {
        "name": "Monthly",
        "code": "monthly",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "pay_in_advance": False,
        "charges": [
            {
                "billable_metric_id": calls["lago_id"],
                "charge_model": "standard",
                "properties": {"amount": "1"},
            }
        ],
    }
    assert api.post("plans", {"plan": plan}).status_code == 200
    for n in range(subscriptions):
        body = {
            "external_customer_id": f"cust{n // per_customer}",
            "plan_code": "monthly",
            "external_id": f"sub{n}",
            "subscription_at": "2020-01-01T00:00:00Z",
        }
        assert api.post("subscriptions", {"subscription": body}).status_code == 200


def counts(api: Any) -> tuple[int, int, int]:
    """(invoice periods, distinct (subscription, boundary) keys, invoices)."""
    with api.database.unit_of_work() as session:
        periods = session.scalar(select(func.count()).select_from(InvoiceSubscription)) or 0
        keys = (
            session.scalar(
                select(func.count()).select_from(
                    select(InvoiceSubscription.subscription_id, InvoiceSubscription.boundary)
                    .distinct()
                    .subquery()
                )
            )
            or 0
        )
        invoices = session.scalar(select(func.count()).select_from(Invoice)) or 0
    return periods, keys, invoices


def test_a_billing_run_killed_half_way_finishes_on_the_next_run_without_duplicates(
    api: Any,
) -> None:
    catalogue(api, subscriptions=60)
    # 60 subscriptions x 12 months = 720 invoices.
    kill_half_way_and_run_again(api, invoices=720)
    assert counts(api) == (720, 720, 720)


def test_a_run_killed_half_way_keeps_each_customer_on_one_invoice_per_boundary(
    api: Any,
) -> None:
    catalogue(api, subscriptions=60, per_customer=3)
    # 20 customers x 12 months = 240 invoices, each with its customer's 3 subscriptions:
    # 60 x 12 = 720 billed periods, each key once.
    kill_half_way_and_run_again(api, invoices=240)
    assert counts(api) == (720, 720, 240)
    assert periods_per_invoice(api) == {3}


# The first run, killed by SIGKILL inside the transaction of its second chunk of invoices,
# after the (KILL_AFTER + 1)th invoice was built and before its chunk committed: the kill
# lands at the same point however fast the machine is (waiting on a clock let a fast run
# finish first).
KILL_AFTER = CHUNK + 5
KILLED_RUN = f"""
import os, signal
import meterly.services.runs.billing_run as billing_run

issue = billing_run.bill_planned_invoice
issued = 0

def issue_then_die(*args, **kwargs):
    global issued
    invoice = issue(*args, **kwargs)
    issued += 1
    if issued > {KILL_AFTER}:
        os.kill(os.getpid(), signal.SIGKILL)
    return invoice

billing_run.bill_planned_invoice = issue_then_die
from meterly.cli.main import app
app(prog_name="meterly")
"""


def kill_half_way_and_run_again(api: Any, *, invoices: int) -> None:
    url = api.database.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "METERLY_DATABASE_URL": url}
    arguments = ["bill", "--as-of", "2021-01-01T00:00:00Z"]
    first = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, *arguments], env=env, capture_output=True, timeout=600
    )
    assert first.returncode == -signal.SIGKILL, first.stdout + first.stderr
    # The first chunk committed (CHUNK invoices); nothing of the chunk being written when
    # the kill landed did (its first 5 invoices were built, then lost with it).
    assert counts(api)[2] == CHUNK
    second = subprocess.run(
        [sys.executable, "-m", "meterly.cli", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert second.returncode == 0, second.stdout + second.stderr


def periods_per_invoice(api: Any) -> set[int]:
    """How many billed periods the invoices hold (the distinct counts)."""
    with api.database.unit_of_work() as session:
        rows = session.execute(
            select(func.count())
            .select_from(InvoiceSubscription)
            .group_by(InvoiceSubscription.invoice_id)
        )
        return {int(count) for (count,) in rows}


@pytest.mark.postgres
def test_two_workers_for_fifty_rounds_never_duplicate_or_miss_an_invoice(
    migrated_postgres_url: str, clock: FrozenClock
) -> None:
    race_two_workers(migrated_postgres_url, clock, rounds=50, per_customer=1)


@pytest.mark.postgres
def test_two_workers_racing_on_customers_with_two_subscriptions_issue_one_invoice_each(
    migrated_postgres_url: str, clock: FrozenClock
) -> None:
    # 3 customers x 2 subscriptions: each round bills 3 invoices of 2 periods each.
    race_two_workers(migrated_postgres_url, clock, rounds=20, per_customer=2)


def race_two_workers(url: str, clock: FrozenClock, *, rounds: int, per_customer: int) -> None:
    from tests.conftest import ApiClient, build_api

    client, (secret, org_id, database) = build_api(url, clock, migrate=False)  # type: ignore[misc]
    with client:  # type: ignore[attr-defined]
        api = ApiClient(client, secret, org_id, database)
        catalogue(api, subscriptions=3 * per_customer, per_customer=per_customer)
        for round_ in range(rounds):
            # Round n bills month n: two workers race for the same three invoices.
            as_of = at(2020 + (round_ + 1) // 12, (round_ + 1) % 12 + 1)
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def worker(
                as_of: datetime = as_of,
                barrier: threading.Barrier = barrier,
                errors: list[BaseException] = errors,
            ) -> None:
                try:
                    barrier.wait()
                    report = runs.run(database, as_of=as_of, clock=FrozenClock(as_of))
                    assert report.errors == []
                except BaseException as exc:  # surfaced below
                    errors.append(exc)

            threads = [threading.Thread(target=worker) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            # Round n has billed n + 1 months: 3 invoices a month, each customer's
            # subscriptions on one invoice (per_customer periods each).
            invoices = 3 * (round_ + 1)
            periods = invoices * per_customer
            assert counts(api) == (periods, periods, invoices), f"round {round_}"
        assert periods_per_invoice(api) == {per_customer}
    database.engine.dispose()  # type: ignore[attr-defined]
