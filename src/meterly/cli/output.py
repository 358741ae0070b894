"""Output that reads well on a terminal and greps well in a pipe.

On a TTY: Rich panels and tables. Otherwise: plain `name: value` lines and tab-separated rows,
never wrapped, so scripts can `grep '^key:'` or `cut -f1`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

console = Console()


def on_terminal() -> bool:
    """Whether stdout is a terminal (not Rich's guess, which FORCE_COLOR can sway)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def show_fields(
    title: str, fields: Sequence[tuple[str, str]], *, notes: Sequence[str] = ()
) -> None:
    """A block of `name: value` lines (the values a script wants), then free-text notes."""
    if on_terminal():
        lines = [f"[bold]{name}:[/] {value}" for name, value in fields]
        body = "\n".join([*lines, *(["", *notes] if notes else [])])
        console.print(Panel(body, title=title, expand=False, border_style="green"))
        return
    for name, value in fields:
        typer.echo(f"{name}: {value}")
    for note in notes:
        typer.echo(note)


def show_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if on_terminal():
        table = Table(header_style="bold")
        for index, column in enumerate(columns):
            # The first column is an id to copy whole; the others fold rather than truncate.
            widest = max((len(row[index]) for row in rows), default=0) if index == 0 else None
            table.add_column(column, min_width=widest, no_wrap=index == 0, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    typer.echo("\t".join(columns))
    for row in rows:
        typer.echo("\t".join(row))


def say(message: str) -> None:
    """A plain line of prose (never wrapped, so copy-paste commands stay whole)."""
    typer.echo(message)


def timestamp(value: datetime) -> str:
    """An instant as Lago prints it: `2024-01-15T10:00:00Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
