"""`meterly events migrate`: move the main database's events into ClickHouse."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from meterly.cli.common import DatabaseUrl, fail, open_database, reporting_errors
from meterly.cli.output import on_terminal, say
from meterly.config import DEFAULT_DATABASE_URL

app = typer.Typer(help="The event store: move events into ClickHouse.", no_args_is_help=True)


@app.command("migrate")
def migrate_command(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The ClickHouse event store: chdb:///dir or clickhouse://user:pass@host:8123/db.",
        ),
    ],
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Copy every event of the main database into ClickHouse, then verify.

    Resumable: a subscription whose events are all there already is skipped, one moved in
    part gets only the events it lacks. Verified: each subscription's event count and sum
    of precise amounts must then be equal in both stores.
    """
    from meterly.store.event_stores import ClickHouseEvents
    from meterly.store.event_stores.migration import migrate, verify

    store = ClickHouseEvents(to, cluster=os.environ.get("METERLY_CLICKHOUSE_CLUSTER") or None)
    store.create_schema()
    with open_database(database_url) as database, reporting_errors():
        with database.engine.connect() as conn, _progress_bar() as advance:
            subscriptions, copied = migrate(conn, store, on_progress=advance)
        say(f"copied {copied} events of {subscriptions} subscriptions")
        with database.engine.connect() as conn:
            mismatches = verify(conn, store)
    if mismatches:
        for m in mismatches[:20]:
            say(
                f"mismatch {m.organization_id} {m.external_subscription_id}: "
                f"main database {m.source[0]} events, sum {m.source[1]}; "
                f"ClickHouse {m.target[0]} events, sum {m.target[1]}"
            )
        fail(f"{len(mismatches)} subscriptions differ: run the migration again")
    say("verified: every subscription has the same event count and amount sum in both stores")


@contextmanager
def _progress_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar of events on a terminal; nothing otherwise."""
    if not on_terminal():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("events"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    ) as progress:
        task = progress.add_task("events", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance
