"""Benchmark databases: a prepared template (schema + one organization), cloned per run.

SQLite: a file in the run's work directory, copied per clone. PostgreSQL: a throwaway
database on the server, cloned with CREATE DATABASE ... TEMPLATE, dropped afterwards.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import data
from bench.environment import Postgres

ORG_NAME = "Bench Inc"


def meterly(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the real `meterly` command line; its stdout, or an error with its output."""
    result = subprocess.run(
        [sys.executable, "-m", "meterly.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"meterly {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def _fields(output: str) -> dict[str, str]:
    pairs = (line.split(": ", 1) for line in output.splitlines() if ": " in line)
    return {name.strip(): value.strip() for name, value in pairs}


@dataclass
class Database:
    """One database holding the schema and the benchmark's organization."""

    backend: str  # "sqlite" | "postgres"
    url: str
    organization_id: str
    api_key: str
    path: Path | None = None  # SQLite file
    name: str | None = None  # PostgreSQL database

    @property
    def postgres(self) -> bool:
        return self.backend == "postgres"

    def raw(self) -> Any:
        """A DB-API connection (sqlite3 with the server's pragmas, or psycopg)."""
        if self.path is not None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            for pragma in (
                "journal_mode=WAL",
                "synchronous=FULL",  # as the server (store/engine.py): durable commits
                "busy_timeout=30000",
                "cache_size=-65536",
            ):
                conn.execute(f"PRAGMA {pragma}")
            return conn
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def count_events(self) -> tuple[int, int]:
        """(rows, distinct idempotency keys) stored for the organization."""
        conn = self.raw()
        try:
            cur = conn.execute(
                "SELECT count(*), count(DISTINCT transaction_id || '/' || external_subscription_id)"
                " FROM events WHERE organization_id = " + ("%s" if self.postgres else "?"),
                (self.organization_id,),
            )
            rows, keys = cur.fetchone()
            return int(rows), int(keys)
        finally:
            conn.close()

    def stored_keys(self) -> set[str]:
        conn = self.raw()
        try:
            cur = conn.execute("SELECT transaction_id FROM events")
            return {r[0] for r in cur.fetchall()}
        finally:
            conn.close()


@dataclass
class Databases:
    """Creates templates and clones in a work directory and on the PostgreSQL server."""

    work: Path
    postgres: Postgres | None
    _created: list[str] = field(default_factory=list)
    _templates: dict[str, Database] = field(default_factory=dict)

    def template(self, backend: str) -> Database:
        if backend not in self._templates:
            self._templates[backend] = self._prepare(backend)
        return self._templates[backend]

    def _prepare(self, backend: str) -> Database:
        api_key = f"bench_{uuid.uuid4().hex}"
        if backend == "sqlite":
            path = self.work / "template.db"
            url = f"sqlite:///{path}"
            db = Database(backend, url, "", api_key, path=path)
        else:
            assert self.postgres is not None
            name = self.postgres.create()
            self._created.append(name)
            db = Database(backend, self.postgres.url(name), "", api_key, name=name)
        meterly("db", "upgrade", "--database-url", db.url)
        out = meterly("org", "create", ORG_NAME, "--api-key", api_key, "--database-url", db.url)
        db.organization_id = _fields(out)["organization"]
        if db.path is not None:
            conn = db.raw()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
        return db

    def clone(self, backend: str) -> Database:
        """A fresh copy of the template: schema, organization, no events."""
        template = self.template(backend)
        if template.path is not None:
            path = self.work / f"clone_{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(template.path, path)
            return Database(
                backend, f"sqlite:///{path}", template.organization_id, template.api_key, path=path
            )
        assert self.postgres is not None and template.name is not None
        name = self.postgres.create(template=template.name)
        self._created.append(name)
        return Database(
            backend,
            self.postgres.url(name),
            template.organization_id,
            template.api_key,
            name=name,
        )

    def copy(self, source: Database) -> Database:
        """A copy of a loaded database (events and API objects included)."""
        if source.path is not None:
            conn = source.raw()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            path = self.work / f"copy_{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(source.path, path)
            return Database(
                source.backend,
                f"sqlite:///{path}",
                source.organization_id,
                source.api_key,
                path=path,
            )
        assert self.postgres is not None and source.name is not None
        name = self.postgres.create(template=source.name)
        self._created.append(name)
        return Database(
            source.backend,
            self.postgres.url(name),
            source.organization_id,
            source.api_key,
            name=name,
        )

    def discard(self, db: Database) -> None:
        if db.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db.path}{suffix}").unlink(missing_ok=True)
        elif db.name is not None and self.postgres is not None:
            self.postgres.drop(db.name)
            if db.name in self._created:
                self._created.remove(db.name)

    def empty_events_table(self, backend: str) -> Database:
        """A fresh database with only `events` and its indexes, from meterly's metadata."""
        from sqlalchemy import create_engine

        from meterly.store.tables import events, metadata

        if backend == "sqlite":
            path = self.work / f"raw_{uuid.uuid4().hex[:8]}.db"
            db = Database(backend, f"sqlite:///{path}", "org_raw", "", path=path)
            engine = create_engine(db.url)
        else:
            assert self.postgres is not None
            name = self.postgres.create()
            self._created.append(name)
            db = Database(backend, self.postgres.url(name), "org_raw", "", name=name)
            engine = create_engine(db.url.replace("postgresql://", "postgresql+psycopg://"))
        metadata.create_all(engine, tables=[events])
        engine.dispose()
        return db

    def close(self) -> None:
        if self.postgres is not None:
            for name in list(self._created):
                self.postgres.drop(name)
        self._created.clear()


@contextmanager
def databases(work: Path, postgres: Postgres | None) -> Iterator[Databases]:
    dbs = Databases(work, postgres)
    try:
        yield dbs
    finally:
        dbs.close()


# --- bulk loading (not through HTTP) -----------------------------------------------------


def bulk_load(db: Database, events: Iterable[data.Event]) -> tuple[int, float]:
    """Load events fast: drop the two indexes, insert, rebuild them, analyze.

    SQLite: executemany in 50k batches; PostgreSQL: COPY. Returns (rows, seconds).
    """
    from sqlalchemy import create_engine

    from meterly.store.tables import events as events_table

    started = time.perf_counter()
    names = [ix.name for ix in events_table.indexes]
    rows = (data.row(db.organization_id, e, postgres=db.postgres) for e in events)
    count = 0
    conn = db.raw()
    try:
        for name in names:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        if db.postgres:
            columns = ", ".join(data.EVENT_COLUMNS)
            with conn.cursor() as cur, cur.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                for item in rows:
                    copy.write_row(item)
                    count += 1
        else:
            marks = ", ".join("?" for _ in data.EVENT_COLUMNS)
            for chunk in data.chunks(rows, 50_000):
                conn.execute("BEGIN")
                conn.executemany(
                    f"INSERT INTO events ({', '.join(data.EVENT_COLUMNS)}) VALUES ({marks})", chunk
                )
                conn.execute("COMMIT")
                count += len(chunk)
    finally:
        conn.close()
    url = db.url.replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    with engine.begin() as sa_conn:
        for index in events_table.indexes:
            index.create(sa_conn)
    engine.dispose()
    conn = db.raw()
    try:
        conn.execute("VACUUM ANALYZE events" if db.postgres else "ANALYZE")
    finally:
        conn.close()
    return count, time.perf_counter() - started
