"""Ingestion through a database outage (issue 20, points 2 and 3), against a real server.

PostgreSQL: the server reaches the database through a TCP proxy in this process; the
proxy drops every connection and refuses new ones for a few seconds while clients keep
sending events. SQLite: the database file is made read-only for a while. In both cases no
request hangs (each is answered within the writer's timeout), a request whose events could
not be stored gets a 503 in Lago's error format, every event acknowledged with a 200 is
stored exactly once, `/health` reports the outage, and the service resumes by itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from meterly.api.app import create_app
from meterly.config import Settings
from meterly.services.accounts import create_organization
from meterly.services.common import FrozenClock
from meterly.services.metering import EventWriter
from meterly.store.engine import create_engine
from meterly.store.tables import events
from meterly.store.uow import Database
from tests.integration.live_server import serving
from tests.integration.tcp_proxy import TcpProxy

TIMEOUT = 2.0  # the writer's: a request not stored within 2 s is answered 503
# What "never hangs" means here: the timeout, plus the time to answer, with room for a
# loaded 2-core machine. A request that hangs would take the client's 60 s.
BOUND = TIMEOUT + 3.0


class Clients:
    """Threads that POST single events until stopped, each with a new transaction_id."""

    def __init__(self, base: str, key: str, count: int = 4) -> None:
        self.base, self.key, self.count = base, key, count
        self.results: list[tuple[str, int, float, dict[str, Any], float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(count)]

    def __enter__(self) -> Clients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _run(self, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=60) as http:
            i = 0
            while not self._stop.is_set():
                tx = f"c{n}-{i}"
                i += 1
                body = {
                    "event": {
                        "transaction_id": tx,
                        "external_subscription_id": "sub_1",
                        "code": "calls",
                        "timestamp": 1705320000,
                    }
                }
                started = time.monotonic()
                try:
                    answer = http.post("/api/v1/events", json=body)
                    status, payload = answer.status_code, answer.json()
                except httpx.HTTPError as exc:
                    status, payload = -1, {"client_error": repr(exc)}
                with self._lock:
                    self.results.append(
                        (tx, status, time.monotonic() - started, payload, time.monotonic())
                    )
                time.sleep(0.01)

    def since(self, instant: float) -> list[int]:
        with self._lock:
            return [status for _, status, _, _, at in self.results if at >= instant]


def _app(url: str) -> tuple[Any, str, Database]:
    database = Database(create_engine(url))
    clock = FrozenClock(time_at())
    app = create_app(Settings(database_url=url), database=database, clock=clock)
    app.state.event_writer.timeout = TIMEOUT
    with database.unit_of_work() as session:
        _, key = create_organization(session, name="Acme", clock=clock)
    return app, key.secret, database


def time_at() -> Any:
    from datetime import UTC, datetime

    return datetime(2024, 1, 15, 12, 0, tzinfo=UTC)


def _stored(database: Database) -> dict[str, int]:
    with database.engine.connect() as conn:
        rows = conn.execute(
            select(events.c.transaction_id, func.count()).group_by(events.c.transaction_id)
        ).all()
    return {str(row[0]): int(row[1]) for row in rows}


def _until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _check_the_run(clients: Clients, database: Database, resumed_at: float) -> None:
    results = clients.results
    statuses = {status for _, status, _, _, _ in results}
    # Only stored (200) or not stored (503): no 500, no client-side timeout or reset.
    assert statuses <= {200, 503}, statuses
    assert 503 in statuses, "the outage must have refused some requests for this to test it"
    slowest = max(elapsed for _, _, elapsed, _, _ in results)
    assert slowest < BOUND, f"a request took {slowest:.1f} s: it hung"
    refused = [payload for _, status, _, payload, _ in results if status == 503]
    assert refused[0] == {
        "status": 503,
        "error": "Service Unavailable",
        "code": "events_not_stored",
    }
    # Resumed by itself: once the database is back, every request is stored again (those
    # answered after the last request sent during the outage would have given up, with
    # room for the writer's longest pause, 1 s).
    later = clients.since(resumed_at + TIMEOUT + 1.0)
    assert later and set(later) == {200}
    acknowledged = [tx for tx, status, _, _, _ in results if status == 200]
    stored = _stored(database)
    # Every acknowledged event stored, exactly once (the unique key allows no more).
    assert all(stored.get(tx) == 1 for tx in acknowledged)
    assert set(stored.values()) == {1}


def _health(base: str) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{base}/health", timeout=30)
    return answer.status_code, answer.json()


@pytest.mark.postgres
def test_postgresql_refusing_connections_mid_ingestion(migrated_postgres_url: str) -> None:
    direct = make_url(migrated_postgres_url)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432)
    via_proxy = direct.set(host="127.0.0.1", port=proxy.port)
    app, key, database = _app(via_proxy.render_as_string(hide_password=False))
    check = Database(create_engine(migrated_postgres_url))  # reads past the proxy
    try:
        with serving(app) as base, Clients(base, key) as clients:
            assert _until(lambda: clients.since(0).count(200) >= 20, 20)
            assert _health(base)[0] == 200
            proxy.refuse()
            refused_at = time.monotonic()
            # Requests are now refused within the timeout, and /health says so.
            assert _until(lambda: 503 in clients.since(refused_at), 10)
            status, body = _health(base)
            assert status == 503
            assert body["event_writer"]["status"] == "unavailable"
            assert body["database"].startswith("unavailable")
            time.sleep(3.0)
            proxy.resume()
            resumed_at = time.monotonic()
            assert _until(lambda: clients.since(resumed_at).count(200) >= 20, 20)
            assert _until(lambda: len(clients.since(resumed_at + TIMEOUT + 1.0)) >= 10, 20)
            status, body = _health(base)
            assert (status, body["event_writer"]["status"], body["database"]) == (200, "ok", "ok")
        _check_the_run(clients, check, resumed_at)
    finally:
        proxy.close()
        database.engine.dispose()
        check.engine.dispose()


class ReadOnly:
    """Makes a file refuse writes, even to root (who ignores modes: `chattr +i` then)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.chattr = shutil.which("chattr") if os.geteuid() == 0 else None
        if os.geteuid() == 0 and self.chattr is None:
            pytest.skip("running as root without chattr: cannot make a file read-only")
        self.active = False

    def make(self) -> None:
        if self.chattr is None:
            self.path.chmod(0o444)
        elif subprocess.run([self.chattr, "+i", str(self.path)]).returncode != 0:
            pytest.skip("chattr +i refused (file system or capability): cannot test")
        self.active = True

    def restore(self) -> None:
        if not self.active:
            return
        if self.chattr is None:
            self.path.chmod(0o644)
        else:
            subprocess.run([self.chattr, "-i", str(self.path)], check=True)
        self.active = False


def test_sqlite_file_read_only_for_a_while_then_writable(migrated_sqlite_url: str) -> None:
    """Connections opened while the file was read-only keep refusing writes: the pool must
    discard them once they fail, so the service recovers without a restart."""
    path = Path(make_url(migrated_sqlite_url).database or "")
    app, key, database = _app(migrated_sqlite_url)
    database.engine.dispose()  # no connection opened before the file turns read-only
    headers = {"Authorization": f"Bearer {key}"}
    outage = ReadOnly(path)
    try:
        with serving(app) as base:
            outage.make()
            with Clients(base, key, count=2) as clients:
                assert _until(lambda: clients.since(0).count(503) >= 3, 15)
                status, body = _health(base)
                assert status == 503 and body["event_writer"]["status"] == "unavailable"
                # Lago's error format, and when to come back.
                started = time.monotonic()
                refused = httpx.post(
                    f"{base}/api/v1/events",
                    json={
                        "event": {
                            "transaction_id": "direct",
                            "external_subscription_id": "s",
                            "code": "calls",
                            "timestamp": 1705320000,
                        }
                    },
                    headers=headers,
                    timeout=60,
                )
                assert time.monotonic() - started < BOUND
                assert refused.status_code == 503
                assert refused.headers["retry-after"] == "1"
                assert refused.json()["code"] == "events_not_stored"
                # The rest of the API, on pooled connections, cannot write either.
                during = httpx.post(
                    f"{base}/api/v1/customers",
                    json={"customer": {"external_id": "during"}},
                    headers=headers,
                    timeout=30,
                )
                assert during.status_code != 200
                outage.restore()
                resumed_at = time.monotonic()
                # Writable again, and no restart: events and the rest of the API recover.
                assert _until(lambda: clients.since(resumed_at).count(200) >= 10, 20)
                assert _until(lambda: len(clients.since(resumed_at + TIMEOUT + 1.0)) >= 10, 20)
                after = httpx.post(
                    f"{base}/api/v1/customers",
                    json={"customer": {"external_id": "after"}},
                    headers=headers,
                    timeout=30,
                )
                assert after.status_code == 200, after.text
                assert _health(base)[0] == 200
        _check_the_run(clients, database, resumed_at)
    finally:
        outage.restore()
        database.engine.dispose()


def test_a_stopped_writer_thread_is_started_again(migrated_sqlite_url: str) -> None:
    """Supervision: should the thread end, the next request starts a new one."""
    database = Database(create_engine(migrated_sqlite_url))
    writer = EventWriter(database, timeout=TIMEOUT)
    try:
        first = writer.store([_row("before")])
        thread = writer._thread
        assert thread is not None
        writer._queue.put(None)  # what close() sends: the thread ends
        thread.join(timeout=10)
        assert not thread.is_alive()
        second = writer.store([_row("after")])
        assert first.committed and second.committed
        assert writer.health()["restarts"] == 1
        assert set(_stored(database)) == {"before", "after"}
    finally:
        writer.close()
        database.engine.dispose()


def _row(tx: str) -> dict[str, Any]:
    import uuid

    return {
        "organization_id": str(uuid.uuid4()),
        "transaction_id": tx,
        "external_subscription_id": "sub_1",
        "code": "calls",
        "timestamp": time_at(),
        "properties": {},
        "precise_total_amount_cents": None,
        "lago_id": str(uuid.uuid4()),
        "created_at": time_at(),
    }
