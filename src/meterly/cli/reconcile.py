"""`meterly reconcile` and `meterly audit`: did we bill every event, and do the bills re-derive?"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer

from meterly.cli.common import DEFAULT_URL, DatabaseUrl, fail, unit_of_work
from meterly.cli.output import on_terminal, say, show_table
from meterly.config import parse_instant
from meterly.services import reconciliation

FromOption = Annotated[
    str | None, typer.Option("--from", help="ISO 8601 instant: first event timestamp / issue date.")
]
ToOption = Annotated[str | None, typer.Option("--to", help="ISO 8601 instant: end (excluded).")]
OrgOption = Annotated[str | None, typer.Option("--org", help="Only this organization (id).")]


def _instants(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    try:
        lower = parse_instant(start) if start else None
        upper = parse_instant(end) if end else None
    except ValueError as error:
        fail(f"--from/--to: not an ISO 8601 instant ({error})")
    if lower is not None and upper is not None and upper <= lower:
        fail("--to must be later than --from")
    return lower, upper


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int | None], None] | None]:
    """A transient progress bar on a terminal; nothing when the output is piped."""
    if not on_terminal():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
    ) as progress:
        task = progress.add_task(label, total=None)

        def advance(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def reconcile(
    database_url: DatabaseUrl = DEFAULT_URL,
    organization: OrgOption = None,
    start: FromOption = None,
    end: ToOption = None,
) -> None:
    """Events accepted, stored, billed, pending and never billed (with the reason),
    per organization, customer, metric and day."""
    lower, upper = _instants(start, end)
    with unit_of_work(database_url) as session, _progress("reconciling") as advance:
        rows = reconciliation.reconcile(
            session,
            organization_id=organization,
            timestamp_from=lower,
            timestamp_to=upper,
            on_group=(lambda n: advance(n, None)) if advance else None,
        )
        session.rollback()  # read only
    show_table(
        [
            "organization",
            "customer",
            "metric",
            "day",
            "accepted",
            "stored",
            "billed",
            "pending",
            "not billed",
            "reasons",
        ],
        [
            [
                r.organization_id[:8],
                r.external_customer_id or "-",
                r.code,
                r.day.isoformat(),
                str(r.accepted),
                str(r.stored),
                str(r.billed),
                str(r.pending),
                str(r.never_billed),
                ", ".join(f"{k}: {v}" for k, v in sorted(r.not_billed.items())),
            ]
            for r in rows
        ],
    )
    summary = reconciliation.totals(rows)
    show_table(
        ["total", "events"],
        [
            [name, str(summary[name])]
            for name in ("accepted", "stored", "billed", "pending", "not_billed")
        ]
        + [[f"  {k}", str(v)] for k, v in summary["not_billed_reasons"].items() if v],
    )
    lost = summary["accepted"] - summary["stored"]
    say(
        f"{summary['stored']} events: {summary['billed']} billed, {summary['pending']} pending, "
        f"{summary['not_billed']} never billed; {lost} accepted but not stored."
    )


def audit(
    database_url: DatabaseUrl = DEFAULT_URL,
    organization: OrgOption = None,
    start: FromOption = None,
    end: ToOption = None,
) -> None:
    """Re-derive every finalized invoice issued in [--from, --to) from its events and the
    prices stored at issue; list any drift to the cent (exit status 1 when there is some)."""
    lower, upper = _instants(start, end)
    with unit_of_work(database_url) as session, _progress("auditing") as advance:
        report = reconciliation.audit.audit(
            session,
            issued_from=lower,
            issued_to=upper,
            organization_id=organization,
            on_invoice=advance,
        )
        session.rollback()  # read only
    show_table(
        ["audit", "value"],
        [
            ["invoices", str(report.invoices)],
            ["usage fees re-derived", str(report.fees_rederived)],
            ["other fees (checked in the totals only)", str(report.fees_skipped)],
            ["drifts", str(len(report.drifts))],
        ],
    )
    if report.drifts:
        show_table(
            ["invoice", "fee", "figure", "stored", "re-derived"],
            [
                [d.invoice_number or d.invoice_id, d.fee_id or "-", d.what, d.stored, d.derived]
                for d in report.drifts
            ],
        )
        raise typer.Exit(1)
    say(f"No drift: {report.invoices} finalized invoices re-derive to the cent.")
