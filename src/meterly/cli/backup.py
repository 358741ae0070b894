"""`meterly backup <file>` and `meterly restore <file>`: a copy of the database, and back.

* SQLite: SQLite's online backup API (`sqlite3.Connection.backup`) copies every page in
  one step inside one read transaction. In WAL mode a reader never blocks the writers, so
  the server keeps ingesting while the copy is taken, and the copy is the database as it
  stood at one instant (no half-written group commit). The copy is written next to the
  target and renamed into place, so a crash never leaves a half-written backup file.
* PostgreSQL: `pg_dump --format=custom` (one snapshot, consistent under load) when it is
  on PATH; `restore` runs `pg_restore --single-transaction` into an empty database.
  Point-in-time recovery (base backups and WAL archiving) is the server's business:
  docs/operations.md describes both procedures.

After a restore (and after a backup, on the copy for SQLite) a consistency check runs and
is printed: the schema revision is this Meterly's newest migration, every table can be
counted, and invoice numbers are unique per organization. A failed check exits with 1.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.engine import make_url

from meterly.cli.common import DEFAULT_URL, DatabaseUrl, fail
from meterly.cli.output import show_fields, show_table
from meterly.config import secret_key_path
from meterly.store.engine import create_engine

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
# The tables whose counts `restore` prints (every table is counted; these are shown).
SHOWN_TABLES = (
    "organizations",
    "customers",
    "subscriptions",
    "events",
    "invoices",
    "fees",
    "credit_notes",
    "wallets",
)
OPERATIONS_DOC = "docs/operations.md"

BackupFile = Annotated[Path, typer.Argument(help="The backup file to write or read.")]


# --- backup ----------------------------------------------------------------------------------


def backup(file: BackupFile, database_url: DatabaseUrl = DEFAULT_URL) -> None:
    """Copy the database into FILE while the server keeps running (SQLite or PostgreSQL)."""
    url = make_url(database_url)
    target = file.resolve()
    if target.exists() and target.is_dir():
        fail(f"{file} is a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "sqlite":
        source = _sqlite_path(database_url)
        if not source.is_file():
            fail(f"no SQLite database at {source}")
        _write_atomically(target, lambda tmp: _sqlite_copy(source, tmp))
        report = check_consistency(f"sqlite:///{target}")
        _single_file(target)  # the check's engine put the copy in WAL mode
        # The generated signing secret lives beside the database: links signed before the
        # backup must still verify after a restore.
        _copy_secret(secret_key_path(source), secret_key_path(target))
        method = "sqlite online backup"
    elif url.get_backend_name() == "postgresql":
        tool = _tool("pg_dump")
        _write_atomically(
            target,
            lambda tmp: _run(
                [tool, "--format=custom", "--no-owner", "--file", str(tmp), _libpq(database_url)]
            ),
        )
        report = None
        method = "pg_dump --format=custom"
    else:
        fail(f"backups of {url.get_backend_name()} databases are not supported")
    fields = [("backup", str(target)), ("method", method), ("bytes", str(target.stat().st_size))]
    if report is not None:
        fields += report.fields()
    show_fields("backup", fields)
    if report is not None and not report.ok:
        raise typer.Exit(1)


def _sqlite_copy(source: Path, destination: Path, *, read_only: bool = False) -> None:
    # Never create an empty database where the source should be (mode=rw or ro); a
    # backup file is read read-only (it may sit on a read-only medium).
    mode = "ro" if read_only else "rw"
    src = sqlite3.connect(f"file:{source}?mode={mode}", uri=True, timeout=30)
    dst = sqlite3.connect(destination)
    try:
        # pages=-1: the whole database in one step, under one read transaction, so the
        # copy is one instant of the database even while writers commit (WAL readers do
        # not block them). A stepwise copy would restart on every concurrent write.
        src.backup(dst, pages=-1)
        # A single file with no -wal beside it: the copy can be moved or mailed as is.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def _single_file(database: Path) -> None:
    """Back to a rollback journal: one self-contained file, no -wal or -shm beside it."""
    conn = sqlite3.connect(database)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


# --- restore ---------------------------------------------------------------------------------


def restore(
    file: Annotated[
        Path | None, typer.Argument(help="The backup file (omit with --check-only).")
    ] = None,
    database_url: DatabaseUrl = DEFAULT_URL,
    check_only: Annotated[
        bool,
        typer.Option(
            "--check-only",
            help="Only check the database (after a point-in-time recovery or a manual "
            "pg_restore); restore nothing.",
        ),
    ] = False,
) -> None:
    """Restore FILE into an empty database, then check it (schema, counts, invoice numbers)."""
    if check_only:
        _print_check(database_url, [("checked", _display(database_url))])
        return
    if file is None:
        fail("give the backup file to restore (or --check-only)")
    if not file.is_file():
        fail(f"no backup file at {file}")
    kind = _backup_kind(file)
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if kind != "sqlite":
            fail(f"{file} is not a SQLite backup ({kind}): restore it into PostgreSQL")
        target = _sqlite_path(database_url)
        if target.exists() and target.stat().st_size > 0 and _has_tables(database_url):
            fail(f"{target} is not empty: restore into a new file (nothing was changed)")
        for suffix in ("-wal", "-shm", "-journal"):
            # A leftover journal beside the target would be replayed onto the restored file.
            leftover = target.with_name(target.name + suffix)
            if leftover.exists() and leftover.stat().st_size > 0 and suffix != "-shm":
                fail(f"{leftover} exists: remove it, or restore into a new file")
            leftover.unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = file.resolve()
        _write_atomically(target, lambda tmp: _sqlite_copy(source, tmp, read_only=True))
        _copy_secret(secret_key_path(source), secret_key_path(target))
        # A fresh copy takes WAL back, as the server's engine expects.
        with sqlite3.connect(target) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    elif backend == "postgresql":
        if kind != "pg_dump":
            fail(f"{file} is not a pg_dump custom-format backup ({kind})")
        if _has_tables(database_url):
            fail("the target database is not empty: create an empty one (nothing was changed)")
        tool = _tool("pg_restore")
        _run(
            [
                tool,
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
                _libpq(database_url),
                str(file),
            ]
        )
    else:
        fail(f"restoring into {backend} databases is not supported")
    _print_check(database_url, [("restored", str(file))])


def _print_check(database_url: str, head: list[tuple[str, str]]) -> None:
    report = check_consistency(database_url)
    show_fields("restore", [*head, *report.fields()])
    if report.problems:
        show_table(["problem"], [[p] for p in report.problems])
    if not report.ok:
        raise typer.Exit(1)


def _display(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)


# --- the consistency check -------------------------------------------------------------------


@dataclass
class ConsistencyReport:
    revision: str | None
    head: str | None
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fields(self) -> list[tuple[str, str]]:
        shown = [(f"rows {t}", str(self.counts[t])) for t in SHOWN_TABLES if t in self.counts]
        return [
            ("schema", f"{self.revision} ({'head' if self.revision == self.head else 'NOT head'})"),
            ("tables readable", str(len(self.counts))),
            *shown,
            ("check", "ok" if self.ok else f"FAILED ({len(self.problems)} problems)"),
        ]


def check_consistency(database_url: str) -> ConsistencyReport:
    """Schema revision, a count of every table, unique invoice numbers (and, on SQLite,
    `PRAGMA integrity_check`). Problems are listed, never raised."""
    from meterly.cli.db import head_revision
    from meterly.store.schema import current_revision
    from meterly.store.tables import Invoice, metadata

    engine = create_engine(database_url)
    try:
        report = ConsistencyReport(revision=current_revision(engine), head=head_revision())
        if report.revision != report.head:
            report.problems.append(
                f"schema revision {report.revision} is not this version's {report.head}"
                " (run `meterly db upgrade` on a backup from an older Meterly)"
            )
        _count_tables(engine, [t.name for t in metadata.sorted_tables], report)
        with engine.connect() as conn:
            duplicates = conn.execute(
                select(Invoice.organization_id, Invoice.number, func.count())
                .where(Invoice.number.is_not(None))
                .group_by(Invoice.organization_id, Invoice.number)
                .having(func.count() > 1)
            ).all()
            for _org, number, count in duplicates:
                report.problems.append(f"invoice number {number} is used {count} times")
            if engine.dialect.name == "sqlite":
                verdict = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                if verdict != "ok":
                    report.problems.append(f"sqlite integrity_check: {verdict}")
        return report
    finally:
        engine.dispose()


def _count_tables(engine: Engine, names: list[str], report: ConsistencyReport) -> None:
    from meterly.store.tables import metadata

    present = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        for name in names:
            if name not in present:
                report.problems.append(f"table {name} is missing")
                continue
            try:
                table = metadata.tables[name]
                report.counts[name] = int(
                    conn.execute(select(func.count()).select_from(table)).scalar() or 0
                )
            except Exception as error:  # a table that cannot be read is the finding
                report.problems.append(f"table {name} cannot be read: {error}")
                conn.rollback()


# --- helpers ---------------------------------------------------------------------------------


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        fail("an in-memory SQLite database has nothing to back up or restore into")
    return Path(database).resolve()


def _has_tables(database_url: str) -> bool:
    engine = create_engine(database_url)
    try:
        return bool(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _backup_kind(file: Path) -> str:
    with file.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "pg_dump"
    return "unknown format"


def _write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Write into a temporary file beside `target`, then rename it into place."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # sqlite3 and pg_dump create the file themselves
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _copy_secret(source: Path, target: Path) -> None:
    """Copy a SQLite database's generated signing secret, never over an existing one."""
    if not source.is_file() or target.exists():
        return
    shutil.copyfile(source, target)
    target.chmod(0o600)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        fail(
            f"{name} is not on PATH: install the PostgreSQL client tools of the server's "
            f"major version, or follow the manual procedure in {OPERATIONS_DOC}"
        )
    return path


def _libpq(database_url: str) -> str:
    """The URL as libpq reads it (`postgresql://…`, without SQLAlchemy's driver name)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tool = Path(command[0]).name
        fail(f"{tool} failed ({result.returncode}): {result.stderr.strip()}")
