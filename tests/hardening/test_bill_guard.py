"""`meterly bill --as-of` refuses an instant later than now, unless on a test clock or told to.

The organization has one yearly plan of 120.00 EUR in arrears, subscribed on 1 January
2024 (calendar billing), so its periods close on each 1 January: 2025, 2026, 2027, ...
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from meterly.cli.main import app
from meterly.services.common import FrozenClock
from meterly.store.engine import create_engine
from meterly.store.tables import Invoice
from tests.conftest import ApiClient, build_api

NEW_YEAR_2024 = FrozenClock(datetime(2024, 1, 1, tzinfo=UTC))
FAR_FUTURE = "2999-01-01T00:00:00Z"


@pytest.fixture
def db(migrated_db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("METERLY_FROZEN_TIME", raising=False)
    client, (secret, org_id, database) = build_api(migrated_db_url, NEW_YEAR_2024, migrate=False)  # type: ignore[misc]
    with client:  # type: ignore[attr-defined]
        api = ApiClient(client, secret, org_id, database)
        plan = {
            "name": "Yearly",
            "code": "yearly",
            "interval": "yearly",
            "amount_cents": 12000,
            "amount_currency": "EUR",
            "pay_in_advance": False,
        }
        assert api.post("plans", {"plan": plan}).status_code == 200  # type: ignore[attr-defined]
        customer = {"external_id": "c1", "name": "One", "currency": "EUR"}
        assert api.post("customers", {"customer": customer}).status_code == 200  # type: ignore[attr-defined]
        sub = {
            "external_customer_id": "c1",
            "plan_code": "yearly",
            "external_id": "s1",
            "subscription_at": "2024-01-01T00:00:00Z",
            "billing_time": "calendar",
        }
        assert api.post("subscriptions", {"subscription": sub}).status_code == 200  # type: ignore[attr-defined]
    database.engine.dispose()  # type: ignore[attr-defined]
    return migrated_db_url


def bill(db: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["bill", "--database-url", db, *args], env=env)


def invoice_totals(db: str) -> list[int]:
    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Invoice.total_amount_cents).order_by(Invoice.issuing_date)
            )
            return [int(total) for (total,) in rows]
    finally:
        engine.dispose()


def test_a_future_as_of_is_refused_and_changes_nothing(db: str) -> None:
    result = bill(db, "--as-of", FAR_FUTURE)
    assert result.exit_code == 1
    assert "is later than now" in result.stderr
    assert "--allow-future" in result.stderr
    assert invoice_totals(db) == []


def test_allow_future_bills_and_the_summary_counts_the_closed_periods(db: str) -> None:
    result = bill(db, "--as-of", "2028-06-01T00:00:00Z", "--allow-future")
    assert result.exit_code == 0, result.output
    # Boundaries by 1 June 2028: 1 Jan 2025, 2026, 2027 and 2028, each a full year in
    # arrears of 12000 cents (no tax, no usage): 4 invoices of 12000.
    assert "Closed 4 billing periods as of 2028-06-01T00:00:00+00:00" in result.stdout
    assert invoice_totals(db) == [12000, 12000, 12000, 12000]


def test_a_past_as_of_needs_no_flag(db: str) -> None:
    result = bill(db, "--as-of", "2025-06-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    # Only 1 January 2025 closed by 1 June 2025: one invoice of 12000.
    assert "Closed 1 billing period as of" in result.stdout
    assert invoice_totals(db) == [12000]


def test_a_frozen_clock_may_bill_ahead_of_the_real_one(db: str) -> None:
    frozen = {"METERLY_FROZEN_TIME": "2024-01-15T00:00:00Z"}
    result = bill(db, "--as-of", "2030-06-01T00:00:00Z", env=frozen)
    assert result.exit_code == 0, result.output
    # 1 January 2025 to 2030: six yearly boundaries of 12000 each.
    assert "Closed 6 billing periods" in result.stdout
    assert invoice_totals(db) == [12000] * 6


def test_without_as_of_the_run_says_it_closed_nothing_twice(db: str) -> None:
    # The default instant is now: every boundary up to now is billed by the first run...
    first = bill(db)
    assert first.exit_code == 0, first.output
    billed = len(invoice_totals(db))
    assert billed >= 2  # 1 Jan 2025 and 1 Jan 2026 closed before this test was written
    # ... so the second closes none and says so.
    second = bill(db)
    assert "Closed 0 billing periods" in second.stdout
    assert len(invoice_totals(db)) == billed
