"""`meterly test-clock advance`: move a test clock from the command line (docs/test-clocks.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from meterly.cli.common import DEFAULT_URL, DatabaseUrl, fail, open_database, reporting_errors
from meterly.cli.output import say, show_table
from meterly.config import parse_instant
from meterly.services import test_clocks
from meterly.services.common import clock_for

app = typer.Typer(
    help="Test clocks: customers living at a time of their own.", no_args_is_help=True
)


@app.command("advance")
def advance(
    clock_id: Annotated[str, typer.Argument(help="The test clock's lago_id.")],
    to: Annotated[str, typer.Option("--to", help="ISO 8601: the clock's new frozen time.")],
    organization: Annotated[str, typer.Option("--org", help="Organization id.")],
    database_url: DatabaseUrl = DEFAULT_URL,
) -> None:
    """Advance the clock to --to, billing its customers at each due instant in between."""
    try:
        target = parse_instant(to)
    except ValueError as error:
        fail(f"--to: not an ISO 8601 instant ({error})")
    with open_database(database_url) as database, reporting_errors():
        report = test_clocks.advance(
            database,
            organization_id=organization,
            clock_id=clock_id,
            frozen_time=target,
            wall_clock=clock_for(None),  # leases and the clock's updated_at: real time
        )
    show_table(
        ("test clock", "value"),
        [
            ("frozen time", target.isoformat()),
            ("steps", str(len(report.steps))),
            ("invoices issued", str(len(report.invoices))),
            ("errors", str(len(report.errors))),
        ],
    )
    for sub_id, cause in report.errors:
        say(f"{sub_id}: {cause}")
