"""`meterly backup` and `meterly restore`, on SQLite and PostgreSQL: a restored database
bills exactly like the original, the copy is consistent while writers commit, and a
restore never lands on a database that holds data."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from meterly.cli.backup import check_consistency
from meterly.cli.main import app
from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.engine import create_engine
from meterly.store.tables import Invoice
from meterly.store.uow import Database
from tests.conftest import PG_ADMIN_URL, ApiClient, create_postgres_database, drop_postgres_database

JAN = datetime(2024, 1, 1, tzinfo=UTC)
JAN_10 = datetime(2024, 1, 10, 12, tzinfo=UTC)
FEB = datetime(2024, 2, 1, 1, tzinfo=UTC)

runner = CliRunner()


def meterly(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), env=env)


def ok(*args: str, env: dict[str, str] | None = None) -> Result:
    result = meterly(*args, env=env)
    assert result.exit_code == 0, result.output
    return result


def fields(result: Result) -> dict[str, str]:
    pairs = (line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    return dict(pairs)


def url_of(api: ApiClient) -> str:
    database: Any = api.database
    return str(database.engine.url.render_as_string(hide_password=False))


@pytest.fixture
def empty_twin(api: ApiClient, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same backend as `api`'s, to restore into."""
    if url_of(api).startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    name, url = create_postgres_database(PG_ADMIN_URL)
    try:
        yield url
    finally:
        drop_postgres_database(PG_ADMIN_URL, name)


def billed_catalogue(api: ApiClient) -> None:
    """A monthly 31.00 EUR plan in arrears, 10.00 EUR per started 100 calls, VAT 20 %;
    one customer subscribed on January 1st; 250 calls on January 10th."""
    assert (
        api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": 20.0}}).status_code == 200
    )  # type: ignore[attr-defined]
    metric: Any = api.post(
        "billable_metrics",
        {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
    )
    plan = {
        "name": "Plan",
        "code": "plan",
        "interval": "monthly",
        "amount_cents": 3100,
        "amount_currency": "EUR",
        "pay_in_advance": False,
        "tax_codes": ["vat"],
        "charges": [
            {
                "billable_metric_id": metric.json()["billable_metric"]["lago_id"],
                "charge_model": "package",
                "properties": {"amount": "10", "package_size": 100, "free_units": 0},
            }
        ],
    }
    response: Any = api.post("plans", {"plan": plan})
    assert response.status_code == 200, response.text
    customer = {"external_id": "cust", "name": "Customer", "currency": "EUR"}
    assert api.post("customers", {"customer": customer}).status_code == 200  # type: ignore[attr-defined]
    subscription = {
        "external_customer_id": "cust",
        "plan_code": "plan",
        "external_id": "sub",
        "billing_time": "calendar",
        "subscription_at": JAN.isoformat(),
    }
    response = api.post("subscriptions", {"subscription": subscription})
    assert response.status_code == 200, response.text
    events = [
        {
            "transaction_id": f"call-{i}",
            "external_subscription_id": "sub",
            "code": "calls",
            "timestamp": str(int(JAN_10.timestamp())),
        }
        for i in range(250)
    ]
    for start in range(0, 250, 100):
        response = api.post("events/batch", {"events": events[start : start + 100]})
        assert response.status_code == 200, response.text


def invoice_amounts(database_url: str) -> list[tuple[int, int, int, int, list[int]]]:
    database = Database(create_engine(database_url))
    try:
        with database.unit_of_work() as session:
            return [
                (
                    i.fees_amount_cents,
                    i.taxes_amount_cents,
                    i.sub_total_including_taxes_amount_cents,
                    i.total_amount_cents,
                    sorted(f.amount_cents for f in i.fees),
                )
                for i in session.scalars(select(Invoice))
            ]
    finally:
        database.engine.dispose()


def test_a_restored_database_bills_the_same(
    api: ApiClient, empty_twin: str, tmp_path: Path
) -> None:
    billed_catalogue(api)
    source = url_of(api)
    file = tmp_path / "meterly.backup"

    backed_up = fields(ok("backup", str(file), "--database-url", source))
    assert Path(backed_up["backup"]) == file.resolve() and file.stat().st_size > 0

    restored = fields(ok("restore", str(file), "--database-url", empty_twin))
    assert restored["check"] == "ok"
    assert restored["schema"].endswith("(head)")
    assert restored["rows events"] == "250"
    assert restored["rows subscriptions"] == restored["rows customers"] == "1"

    # bill both at the same frozen instant: the original in-process, the copy by the CLI
    report = runs.run(api.database, as_of=FEB, clock=FrozenClock(FEB))  # type: ignore[arg-type]
    assert report.errors == [] and len(report.invoices) == 1
    frozen = {"METERLY_FROZEN_TIME": FEB.isoformat()}
    ok("bill", "--as-of", FEB.isoformat(), "--database-url", empty_twin, env=frozen)

    # January: subscription fee 3100; 250 calls → ceil(250 / 100) = 3 packages × 1000 =
    # 3000; fees 3100 + 3000 = 6100; VAT 20 % of 6100 = 1220; total 6100 + 1220 = 7320
    expected = [(6100, 1220, 7320, 7320, [3000, 3100])]
    assert invoice_amounts(source) == expected
    assert invoice_amounts(empty_twin) == expected


def test_restore_refuses_a_database_that_holds_data(
    api: ApiClient, empty_twin: str, tmp_path: Path
) -> None:
    file = tmp_path / "meterly.backup"
    ok("backup", str(file), "--database-url", url_of(api))
    ok("restore", str(file), "--database-url", empty_twin)
    again = meterly("restore", str(file), "--database-url", empty_twin)
    assert again.exit_code == 1
    assert "not empty" in again.stderr
    # the data restored the first time is still there, unchanged
    assert check_consistency(empty_twin).counts["organizations"] == 1


def test_restore_refuses_a_backup_of_the_other_backend(tmp_path: Path, db_url: str) -> None:
    wrong = tmp_path / "wrong.backup"
    if db_url.startswith("sqlite"):
        wrong.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 64)
        expected = "not a SQLite backup"
    else:
        wrong.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84)
        expected = "not a pg_dump custom-format backup"
    result = meterly("restore", str(wrong), "--database-url", db_url)
    assert result.exit_code == 1
    assert expected in result.stderr


@pytest.mark.postgres
def test_backup_without_pg_dump_points_to_the_procedure(postgres_url: str, tmp_path: Path) -> None:
    result = meterly(
        "backup", str(tmp_path / "x.backup"), "--database-url", postgres_url, env={"PATH": ""}
    )
    assert result.exit_code == 1
    assert "pg_dump is not on PATH" in result.stderr
    assert "docs/operations.md" in result.stderr
    assert not (tmp_path / "x.backup").exists()


def test_the_check_reports_a_schema_from_another_version(
    migrated_sqlite_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "copy.db"
    ok("backup", str(file), "--database-url", migrated_sqlite_url)
    with sqlite3.connect(file) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    result = meterly("restore", str(file), "--database-url", f"sqlite:///{tmp_path / 'r.db'}")
    assert result.exit_code == 1
    assert fields(result)["check"].startswith("FAILED")
    assert "db upgrade" in result.stdout


def test_sqlite_backup_is_one_instant_while_writers_commit(
    migrated_sqlite_url: str, tmp_path: Path
) -> None:
    """A writer commits two rows per transaction without pause; every copy taken meanwhile
    holds an even number of them (no half transaction) and passes the check."""
    path = migrated_sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE backup_probe (pair INTEGER, side INTEGER)")
    stop = threading.Event()
    committed = [0]

    def write() -> None:
        conn = sqlite3.connect(path, timeout=30)
        try:
            while not stop.is_set():
                with conn:
                    conn.execute("INSERT INTO backup_probe VALUES (?, 0)", (committed[0],))
                    conn.execute("INSERT INTO backup_probe VALUES (?, 1)", (committed[0],))
                committed[0] += 1
        finally:
            conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while committed[0] < 50:
            stop.wait(0.01)
        counts = []
        for n in range(3):
            copy = tmp_path / f"copy-{n}.db"
            assert (
                fields(ok("backup", str(copy), "--database-url", migrated_sqlite_url))["check"]
                == "ok"
            )
            with sqlite3.connect(copy) as conn:
                counts.append(conn.execute("SELECT count(*) FROM backup_probe").fetchone()[0])
    finally:
        stop.set()
        writer.join()
    assert all(c > 0 and c % 2 == 0 for c in counts), counts
    # the writer kept committing while the copies were taken
    assert counts == sorted(counts) and committed[0] * 2 >= counts[-1]


def test_sqlite_backup_carries_the_generated_signing_secret(
    migrated_sqlite_url: str, tmp_path: Path
) -> None:
    """Links signed before the backup must verify after a restore: the secret kept beside
    a SQLite database (`<database>.secret-key`) travels with the copy."""
    database = Path(migrated_sqlite_url.removeprefix("sqlite:///"))
    database.with_name(database.name + ".secret-key").write_text("s3cret-from-first-start")
    copy = tmp_path / "copy.db"
    ok("backup", str(copy), "--database-url", migrated_sqlite_url)
    assert (tmp_path / "copy.db.secret-key").read_text() == "s3cret-from-first-start"
    restored = tmp_path / "restored" / "meterly.db"
    ok("restore", str(copy), "--database-url", f"sqlite:///{restored}")
    secret = restored.with_name("meterly.db.secret-key")
    assert secret.read_text() == "s3cret-from-first-start"
    assert secret.stat().st_mode & 0o777 == 0o600


def test_check_only_finds_duplicate_invoice_numbers(api: ApiClient) -> None:
    """`restore --check-only` checks a database recovered by other means (PITR, a manual
    pg_restore): here two invoices share a number once the unique index is gone."""
    add_on = {"name": "Setup", "code": "setup", "amount_cents": 1000, "amount_currency": "EUR"}
    assert api.post("add_ons", {"add_on": add_on}).status_code == 200  # type: ignore[attr-defined]
    customer = {"external_id": "cust", "name": "Customer", "currency": "EUR"}
    assert api.post("customers", {"customer": customer}).status_code == 200  # type: ignore[attr-defined]
    one_off = {
        "external_customer_id": "cust",
        "currency": "EUR",
        "fees": [{"add_on_code": "setup"}],
    }
    numbers = [
        api.post("invoices", {"invoice": one_off}).json()["invoice"]["number"]  # type: ignore[attr-defined]
        for _ in range(2)
    ]
    url = url_of(api)
    checked = fields(ok("restore", "--check-only", "--database-url", url))
    assert checked["check"] == "ok" and checked["rows invoices"] == "2"

    database: Any = api.database
    with database.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX uq_invoices_number")
        conn.exec_driver_sql(
            "UPDATE invoices SET number = %s WHERE number = %s"
            if database.engine.dialect.name == "postgresql"
            else "UPDATE invoices SET number = ? WHERE number = ?",
            (numbers[0], numbers[1]),
        )
    result = meterly("restore", "--check-only", "--database-url", url)
    assert result.exit_code == 1
    assert fields(result)["check"] == "FAILED (1 problems)"
    assert f"invoice number {numbers[0]} is used 2 times" in result.stdout
