"""`meterly serve` runs the worker's loops: a closed period is billed with no `meterly bill`.

The database is prepared in-process on a test clock in January 2024 (a plan of 10.00 EUR a
month in arrears, a customer subscribed on 1 January), then the real server starts as a
subprocess with METERLY_FROZEN_TIME in February: its billing loop must issue January's
invoice by itself. A second server on the same port must refuse to start, saying why.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from meterly.services.common import FrozenClock
from tests.compat.conftest import cli_env, free_port, stop, wait_until_healthy
from tests.conftest import ApiClient, build_api

JANUARY = FrozenClock(datetime(2024, 1, 1, 0, 0, tzinfo=UTC))
FEBRUARY = "2024-02-01T06:00:00Z"
POLL_SECONDS = 30.0


def prepare(db_url: str) -> str:
    """Plan, customer and subscription on the January clock; returns the API key."""
    client, (secret, org_id, database) = build_api(db_url, JANUARY, migrate=True)  # type: ignore[misc]
    with client:  # type: ignore[attr-defined]
        api = ApiClient(client, secret, org_id, database)
        plan = {
            "name": "Basic",
            "code": "basic",
            "interval": "monthly",
            "amount_cents": 1000,
            "amount_currency": "EUR",
            "pay_in_advance": False,
        }
        assert api.post("plans", {"plan": plan}).status_code == 200  # type: ignore[attr-defined]
        customer = {"external_id": "cust_1", "name": "First", "currency": "EUR"}
        assert api.post("customers", {"customer": customer}).status_code == 200  # type: ignore[attr-defined]
        subscription = {
            "external_customer_id": "cust_1",
            "plan_code": "basic",
            "external_id": "sub_1",
            "subscription_at": "2024-01-01T00:00:00Z",
            "billing_time": "calendar",
        }
        answer = api.post("subscriptions", {"subscription": subscription})
        assert answer.status_code == 200, answer.text  # type: ignore[attr-defined]
    database.engine.dispose()  # type: ignore[attr-defined]
    return str(secret)


def start(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "meterly.cli", *args],
            env=cli_env(FEBRUARY),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def test_the_server_bills_a_closed_period_by_itself(migrated_db_url: str, tmp_path: Path) -> None:
    key = prepare(migrated_db_url)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    args = ["serve", "--port", str(port), "--database-url", migrated_db_url]
    process = start(args, log_path)
    try:
        assert wait_until_healthy(process, base_url, log_path), log_path.read_text()
        headers = {"Authorization": f"Bearer {key}"}
        invoices: list[dict[str, object]] = []
        deadline = time.monotonic() + POLL_SECONDS
        while not invoices and time.monotonic() < deadline:
            answer = httpx.get(f"{base_url}/api/v1/invoices", headers=headers, timeout=5)
            invoices = answer.json()["invoices"]
            time.sleep(0.2)
        # January, whole month, in arrears: one invoice of the base fee, 1000 cents, no tax.
        assert len(invoices) == 1, log_path.read_text()
        (invoice,) = invoices
        assert invoice["invoice_type"] == "subscription"
        assert invoice["status"] == "finalized"
        assert invoice["total_amount_cents"] == 1000

        banner = log_path.read_text()
        assert f"API:       {base_url}/api/v1" in banner
        assert f"Dashboard: {base_url}/dashboard" in banner
        assert "Worker:    running in this process (billing, webhook-delivery" in banner

        # A second server on the same port: refused, non-zero, and no banner announcing it.
        second = subprocess.run(
            [sys.executable, "-m", "meterly.cli", *args],
            env=cli_env(FEBRUARY),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert f"port {port} on 127.0.0.1 is already in use" in second.stderr
        assert "Meterly on" not in second.stdout
    finally:
        stop(process)


def test_without_the_worker_nothing_is_billed(sqlite_url: str, tmp_path: Path) -> None:
    key = prepare(sqlite_url)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    process = start(
        ["serve", "--port", str(port), "--database-url", sqlite_url, "--no-worker"], log_path
    )
    try:
        assert wait_until_healthy(process, base_url, log_path), log_path.read_text()
        headers = {"Authorization": f"Bearer {key}"}
        answer = httpx.get(f"{base_url}/api/v1/invoices", headers=headers, timeout=5)
        assert answer.json()["invoices"] == []
        assert "Worker:    not started (--no-worker)" in log_path.read_text()
    finally:
        stop(process)


@pytest.mark.parametrize("command", ["serve", "quickstart"])
def test_a_taken_port_is_reported_before_anything_else(
    command: str, sqlite_url: str, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        db_flag = ["--database-url", sqlite_url]
        result = subprocess.run(
            [sys.executable, "-m", "meterly.cli", command, "--port", str(port), *db_flag],
            env=cli_env(None),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    # Nothing was announced, and the database was not even created.
    assert "Meterly on" not in result.stdout
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()
