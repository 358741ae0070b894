"""The `meterly` command: wiring only. Each command or group lives in its own module.

To add a command: write `cli/<name>.py` with a function (one command) or a `typer.Typer()`
named `app` (a group of subcommands), then list it in `COMMANDS` below. Open the database
with `common.unit_of_work(database_url)`, take the clock from `common.clock_from_env()`,
and print with `output.show_fields/show_table`.

A command's module is imported only when that command runs (or when `--help` lists the
commands): `meterly bill` does not pay for the web server, the demo data or Alembic.
"""

from __future__ import annotations

import importlib

import typer
from typer import _click as click  # Typer's own copy of click: the types its groups use
from typer.core import TyperGroup

# name -> (module, attribute): a function is one command, a `typer.Typer` a group.
# The order is the order `meterly --help` lists them in.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("meterly.cli.serve", "serve"),
    "quickstart": ("meterly.cli.quickstart", "quickstart"),
    "bill": ("meterly.cli.billing", "bill"),
    "worker": ("meterly.cli.billing", "worker"),
    "reconcile": ("meterly.cli.reconcile", "reconcile"),
    "audit": ("meterly.cli.reconcile", "audit"),
    "backtest": ("meterly.cli.backtest", "backtest"),
    "test-clock": ("meterly.cli.test_clocks", "app"),
    "demo": ("meterly.cli.demo", "demo"),
    "db": ("meterly.cli.db", "app"),
    "events": ("meterly.cli.events", "app"),
    "org": ("meterly.cli.orgs", "app"),
    "api-key": ("meterly.cli.keys", "app"),
    "user": ("meterly.cli.users", "app"),
    "backup": ("meterly.cli.backup", "backup"),
    "restore": ("meterly.cli.backup", "restore"),
}


def load_command(name: str) -> click.Command:
    """The click command `name`, built from its module (imported now)."""
    module_name, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name
        return group
    single = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    single.command(name)(target)
    return typer.main.get_command(single)


class LazyCommands(TyperGroup):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(n for n in super().list_commands(ctx) if n not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in COMMANDS:
            command = load_command(cmd_name)
            self.commands[cmd_name] = command
        return command


app = typer.Typer(
    name="meterly",
    cls=LazyCommands,
    help="Meterly: metered billing that speaks Lago's API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """Meterly: metered billing that speaks Lago's API."""


if __name__ == "__main__":  # pragma: no cover
    app()
