"""`meterly org`: organizations (tenants), each created with its first API key."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from meterly.cli.common import (
    DatabaseUrl,
    clock_from_env,
    fail,
    unit_of_work,
)
from meterly.cli.output import show_fields, show_table, timestamp
from meterly.config import DEFAULT_DATABASE_URL
from meterly.domain.money import is_currency
from meterly.services.accounts import organizations as orgs

app = typer.Typer(help="Create and list organizations.", no_args_is_help=True)


def check_currency_and_timezone(currency: str, timezone: str) -> None:
    if not is_currency(currency):
        fail(f"unknown currency {currency!r} (an ISO 4217 code such as USD or EUR)")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"unknown timezone {timezone!r} (an IANA name such as UTC or Europe/Paris)")


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The organization's name.")],
    api_key: Annotated[
        str | None,
        typer.Option(help="Use this secret as the first API key (16+ characters)."),
    ] = None,
    currency: Annotated[str, typer.Option(help="Default currency.")] = "USD",
    timezone: Annotated[str, typer.Option(help="Default timezone.")] = "UTC",
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Create an organization and print its id and API key (shown only this once)."""
    currency = currency.upper()
    check_currency_and_timezone(currency, timezone)
    with unit_of_work(database_url) as session:
        org, key = orgs.create_organization(
            session,
            name=name,
            clock=clock_from_env(),
            api_key=api_key,
            default_currency=currency,
            timezone=timezone,
        )
        org_id = org.id
    show_fields(
        f"Organization {name}",
        [("organization", org_id), ("key_id", key.id), ("key", key.secret)],
        notes=["The key is shown only once: keep it somewhere safe."],
    )


@app.command("list")
def list_(database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """List organizations, oldest first."""
    with unit_of_work(database_url) as session:
        rows = [
            [org.id, org.name, org.default_currency, org.timezone, timestamp(org.created_at)]
            for org in orgs.list_organizations(session)
        ]
    show_table(["id", "name", "currency", "timezone", "created_at"], rows)
