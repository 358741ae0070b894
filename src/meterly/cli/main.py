"""The `meterly` command: wiring only. Each command or group lives in its own module.

To add a command: write `cli/<name>.py` with a function (one command) or a `typer.Typer()`
named `app` (a group of subcommands), then register it below with `app.command(...)` or
`app.add_typer(...)`. Open the database with `common.unit_of_work(database_url)`, take the
clock from `common.clock_from_env()`, and print with `output.show_fields/show_table`.
"""

from __future__ import annotations

import typer

from meterly.cli import billing, db, demo, keys, orgs, quickstart, serve

app = typer.Typer(
    name="meterly",
    help="Meterly: metered billing that speaks Lago's API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Single commands.
app.command("serve")(serve.serve)
app.command("quickstart")(quickstart.quickstart)
app.command("bill")(billing.bill)
app.command("worker")(billing.worker)
app.command("demo")(demo.demo)

# Groups of subcommands.
app.add_typer(db.app, name="db")
app.add_typer(orgs.app, name="org")
app.add_typer(keys.app, name="api-key")


if __name__ == "__main__":  # pragma: no cover
    app()
