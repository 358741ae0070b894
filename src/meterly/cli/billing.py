"""`meterly bill --as-of` and `meterly worker`: the billing clock."""

from __future__ import annotations

import functools
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
from meterly.services import corrections, runs
from meterly.services.common import Clock, FrozenClock

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
    allow_future: Annotated[
        bool,
        typer.Option(
            "--allow-future",
            help="Accept an --as-of later than now (finalizes periods still running).",
        ),
    ] = False,
    corrections_only: Annotated[
        bool,
        typer.Option(
            "--corrections",
            help="Only issue the credit notes and correction invoices that corrected "
            "events call for (the full run issues them too).",
        ),
    ] = False,
) -> None:
    """Issue every invoice whose period ended by --as-of (default: now) and is not issued yet."""
    clock = clock_from_env()
    try:
        instant: datetime = parse_instant(as_of) if as_of else clock.now()
    except ValueError:
        fail(f"--as-of {as_of!r} is not an ISO 8601 instant")
    refuse_future(instant, clock=clock, allow_future=allow_future)
    if corrections_only:
        with open_database(database_url) as database:
            done = corrections.run(
                database, clock=FrozenClock(instant), organization_id=organization
            )
        show_corrections(done)
        if done.errors:
            raise typer.Exit(1)
        return
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
    if report.corrections.invoices_examined or report.corrections.errors:
        show_corrections(report.corrections)
    for sub_id, message in report.errors:
        say(f"subscription {sub_id}: {message}")
    closed = len(report.invoices)
    say(
        f"Closed {closed} billing period{'' if closed == 1 else 's'} as of {instant.isoformat()}"
        f" ({report.already_billed} already billed, {len(report.errors)} errors)."
    )
    if report.errors:
        raise typer.Exit(1)


def show_corrections(done: corrections.CorrectionReport) -> None:
    rows = [
        ["invoices corrected", str(done.invoices_examined)],
        ["credit notes issued", ", ".join(done.credit_notes) or "-"],
        ["correction invoices issued", ", ".join(done.invoices) or "-"],
        ["event corrections applied", str(done.corrections_applied)],
        ["late events billed", str(done.late_events)],
        ["errors", str(len(done.errors))],
    ]
    show_table(["corrections", "value"], rows)
    for invoice_id, message in done.errors:
        say(f"invoice {invoice_id}: {message}")


def refuse_future(instant: datetime, *, clock: Clock, allow_future: bool) -> None:
    """Billing "as of" a future instant closes periods still running: events sent later
    would show in current usage but never be billed. Only a test clock or an explicit
    --allow-future may do it."""
    if allow_future or isinstance(clock, FrozenClock):
        return
    now = clock.now()
    if instant > now:
        fail(
            f"--as-of {instant.isoformat()} is later than now ({now.isoformat()}): it would "
            "finalize invoices for periods that are still running, and events sent afterwards "
            "could never be billed. Pass --allow-future if that is really what you want, or "
            "run on a test clock (METERLY_FROZEN_TIME)."
        )


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
    from meterly.jobs import worker as loops  # httpx and the renderers: only for this command

    clock = clock_from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with open_database(database_url) as database:
        if once:
            # Deliveries and spend checks run while the one billing pass does.
            running = loops.start(database, clock, stop, loops=loops.without("billing"))
            report = loops.billing_pass(database, clock)
            say(
                f"{clock.now().isoformat()}: {len(report.invoices)} invoices, "
                f"{len(report.errors)} errors"
            )
            running.stop()
            return
        billing = loops.WorkerLoop(
            "billing", functools.partial(loops.billing_loop, interval=interval)
        )
        running = loops.start(database, clock, stop, loops=[billing, *loops.without("billing")])
        say(f"Worker running ({', '.join(t.name for t in running.threads)}). Ctrl+C stops it.")
        running.wait()
        running.stop()
