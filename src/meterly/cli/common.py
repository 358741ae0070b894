"""What every command shares: the database option, opening a unit of work, reporting errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from meterly.config import DEFAULT_DATABASE_URL, Settings
from meterly.domain.errors import DomainError, NotFound, ValidationFailed
from meterly.services.common import Clock, clock_for
from meterly.store.engine import create_engine
from meterly.store.uow import Database

DatabaseUrl = Annotated[
    str,
    typer.Option(
        "--database-url",
        envvar="METERLY_DATABASE_URL",
        show_envvar=True,
        help="SQLAlchemy URL: sqlite:///path.db or postgresql://user@host/db.",
    ),
]
DEFAULT_URL = DEFAULT_DATABASE_URL

err_console = Console(stderr=True)


def settings_for(database_url: str) -> Settings:
    """Settings from the environment (METERLY_*), with the URL given on the command line."""
    return Settings.from_env(database_url=database_url)


def clock_from_env() -> Clock:
    """The process clock: METERLY_FROZEN_TIME, when set, is "now" for every command."""
    return clock_for(Settings.from_env().frozen_time)


def fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def describe(error: DomainError) -> str:
    if isinstance(error, ValidationFailed):
        return "; ".join(f"{field}: {_codes(codes)}" for field, codes in error.details.items())
    if isinstance(error, NotFound):
        return f"{error.resource.replace('_', ' ')} not found"
    return str(error)


def _codes(codes: object) -> str:
    return ", ".join(map(str, codes)) if isinstance(codes, list) else str(codes)


@contextmanager
def open_database(database_url: str, *, require_schema: bool = True) -> Iterator[Database]:
    """A Database for one command, disposed of when the command ends."""
    from meterly.store.schema import current_revision  # imports Alembic: only when needed

    database = Database(create_engine(database_url))
    try:
        with reporting_errors():
            if require_schema and current_revision(database.engine) is None:
                fail(
                    f"the database {database_url} has no schema yet: "
                    f"run `{program()} db upgrade --database-url {database_url}`"
                )
        yield database
    finally:
        database.engine.dispose()


@contextmanager
def unit_of_work(database_url: str) -> Iterator[Session]:
    """One transaction for one command: committed at the end, rolled back on any error."""
    with (
        open_database(database_url) as database,
        reporting_errors(),
        database.unit_of_work() as session,
    ):
        yield session


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn domain and connection errors into a one-line message and exit status 1."""
    try:
        yield
    except DomainError as error:
        fail(describe(error))
    except OperationalError as error:
        fail(f"database error: {error.orig}")


def program() -> str:
    """How the user invoked Meterly (`.venv/bin/meterly` under `make run`), for hints."""
    argv0 = Path(sys.argv[0]) if sys.argv else Path("meterly")
    if argv0.name != "meterly":
        return "meterly"
    try:
        return str(argv0.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(argv0)


def database_flag(database_url: str) -> str:
    """The `--database-url` part of a hint, empty for the default database."""
    return "" if database_url == DEFAULT_URL else f" --database-url {database_url}"
