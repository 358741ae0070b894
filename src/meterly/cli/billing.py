"""`meterly bill --as-of` and `meterly worker`: the billing clock."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer

from meterly.cli.common import DEFAULT_URL, DatabaseUrl, clock_from_env, fail, open_database
from meterly.cli.output import on_terminal, say, show_table
from meterly.config import parse_instant
from meterly.domain.money import currency, from_minor
from meterly.services import runs
from meterly.services.common import Clock
from meterly.store.uow import Database

# The run's wall time includes start-up: the progress bar (rich.progress) and the webhook
# worker (httpx, signing keys) are imported only by the paths that use them.


def bill(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="ISO 8601 instant: bill every period closed by then."),
    ] = None,
    database_url: DatabaseUrl = DEFAULT_URL,
    organization: Annotated[
        str | None, typer.Option("--org", help="Only this organization.")
    ] = None,
) -> None:
    """Issue every invoice whose period ended by --as-of (default: now) and is not issued yet."""
    clock = clock_from_env()
    try:
        instant: datetime = parse_instant(as_of) if as_of else clock.now()
    except ValueError:
        fail(f"--as-of {as_of!r} is not an ISO 8601 instant")
    with open_database(database_url) as database, _progress_bar() as advance:
        report = runs.run(
            database, as_of=instant, clock=clock, organization_id=organization, on_progress=advance
        )
    rows = [
        ["as of", instant.isoformat()],
        ["subscriptions", str(report.subscriptions_seen)],
        ["activated", str(report.activated)],
        ["invoices issued", str(len(report.invoices))],
        ["drafts finalized", str(report.finalized_drafts)],
        ["alerts triggered", str(report.alerts_triggered)],
        ["already billed (skipped)", str(report.already_billed)],
        ["errors", str(len(report.errors))],
    ]
    for code, cents in sorted(report.amount_cents_by_currency.items()):
        rows.append([f"total {code}", f"{from_minor(cents, currency(code))}"])
    show_table(["billing run", "value"], rows)
    for sub_id, message in report.errors:
        say(f"subscription {sub_id}: {message}")
    if report.errors:
        raise typer.Exit(1)


@contextmanager
def _progress_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A transient progress bar on a terminal; nothing otherwise."""
    if not on_terminal():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("billing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("subscriptions", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def worker(
    database_url: DatabaseUrl = DEFAULT_URL,
    interval: Annotated[float, typer.Option(help="Seconds between two billing passes.")] = 60.0,
    once: Annotated[bool, typer.Option(help="One pass, then exit.")] = False,
) -> None:
    """Bill continuously (each customer at midnight in their timezone) and deliver webhooks."""
    clock = clock_from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with open_database(database_url) as database:
        delivery = _webhook_loop(database, clock, stop)
        spend = _spend_loop(database, clock, stop)
        while not stop.is_set():
            report = runs.run(database, as_of=clock.now(), clock=clock)
            if report.invoices or report.errors:
                issued, failed = len(report.invoices), len(report.errors)
                say(f"{clock.now().isoformat()}: {issued} invoices, {failed} errors")
            if once:
                break
            stop.wait(interval)
        stop.set()
        for thread in (delivery, spend):
            if thread is not None:
                thread.join(timeout=10)


SPEND_INTERVAL = 15.0


def _spend_loop(database: Database, clock: Clock, stop: threading.Event) -> threading.Thread:
    """Thresholds and alerts every few seconds: usage is watched within a minute at most."""
    from meterly.services.spend_control import spend

    def loop() -> None:
        while not stop.wait(SPEND_INTERVAL):
            spend.run_checks(database, clock=clock)

    thread = threading.Thread(target=loop, name="spend-control", daemon=True)
    thread.start()
    return thread


def _webhook_loop(database: Database, clock: Clock, stop: threading.Event) -> threading.Thread:
    """Deliver the outbox continuously, retrying with backoff (see jobs/webhooks.py)."""
    from meterly.jobs import webhooks

    thread = threading.Thread(
        target=webhooks.run_forever,
        args=(database,),
        kwargs={"clock": clock, "stop": stop, "max_attempts": webhooks.attempts_from_env()},
        name="webhook-delivery",
        daemon=True,
    )
    thread.start()
    return thread
