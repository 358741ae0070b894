"""`meterly db`: create, upgrade and inspect the schema (Alembic migrations)."""

from __future__ import annotations

import typer

from meterly.cli.common import DatabaseUrl, open_database, program, reporting_errors
from meterly.cli.output import say
from meterly.config import DEFAULT_DATABASE_URL

# Alembic is imported inside the functions that migrate: other commands start faster.

app = typer.Typer(help="Create, upgrade and inspect the database schema.", no_args_is_help=True)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from meterly.store.schema import alembic_config

    return "+".join(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def upgrade_schema(database_url: str) -> str | None:
    """Bring the schema to the newest migration (creating it on an empty database), and
    create the ClickHouse events table, its keys and its hourly rollup when
    `METERLY_EVENTS_URL` selects that store (replicated, behind Distributed tables, when
    `METERLY_CLICKHOUSE_CLUSTER` is set)."""
    from meterly.store.event_stores import configured, ingestion_lock
    from meterly.store.schema import current_revision, upgrade

    with open_database(database_url, require_schema=False) as database, reporting_errors():
        upgrade(database.engine)
        event_store = configured()
        if event_store is not None:
            # Keys and rollup created over stored events are filled while none is ingested.
            with database.engine.connect() as conn, ingestion_lock(conn):
                event_store.create_schema()
        return current_revision(database.engine)


@app.command("upgrade")
def upgrade_command(database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """Create the schema or apply pending migrations (safe to run again)."""
    revision = upgrade_schema(database_url)
    say(f"schema: {revision} (head)")


@app.command("current")
def current_command(database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """Print the schema revision of the database and whether it is the newest."""
    from meterly.store.schema import current_revision

    with open_database(database_url, require_schema=False) as database, reporting_errors():
        revision = current_revision(database.engine)
    head = head_revision()
    if revision is None:
        say(f"schema: none (empty database; newest is {head}: run `{program()} db upgrade`)")
    elif revision == head:
        say(f"schema: {revision} (head)")
    else:
        say(f"schema: {revision} (behind head {head}: run `{program()} db upgrade`)")
        raise typer.Exit(1)
