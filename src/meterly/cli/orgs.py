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
from meterly.services import mail
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


@app.command("email")
def email(
    org: Annotated[str, typer.Option("--org", help="Organization id.")],
    sender_name: Annotated[
        str | None, typer.Option(help="The name in the From header (empty: the org's name).")
    ] = None,
    from_address: Annotated[
        str | None, typer.Option(help="From address (empty: METERLY_SMTP_FROM).")
    ] = None,
    reply_to: Annotated[str | None, typer.Option(help="Reply-To address (empty: none).")] = None,
    cc: Annotated[
        list[str] | None, typer.Option(help="Copy every e-mail to this address (repeatable).")
    ] = None,
    bcc: Annotated[
        list[str] | None, typer.Option(help="Blind-copy every e-mail (repeatable).")
    ] = None,
    no_copies: Annotated[bool, typer.Option(help="Remove every cc and bcc address.")] = False,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Set how the organization's documents are e-mailed (only the options given change)."""
    changes: dict[str, object] = {}
    for name, value in (
        ("sender_name", sender_name),
        ("from_address", from_address),
        ("reply_to", reply_to),
    ):
        if value is not None:
            changes[name] = value
    if no_copies:
        changes.update(cc=[], bcc=[])
    if cc:
        changes["cc"] = cc
    if bcc:
        changes["bcc"] = bcc
    with unit_of_work(database_url) as session:
        orgs.find_organization(session, org)
        if changes:
            mail.update_settings(
                session, organization_id=org, changes=changes, clock=clock_from_env()
            )
        wire = mail.settings_wire(session, org)
    show_fields(
        "E-mail delivery",
        [
            ("sender_name", str(wire["sender_name"] or "")),
            ("from_address", str(wire["from_address"] or "")),
            ("reply_to", str(wire["reply_to"] or "")),
            ("cc", ", ".join(wire["cc"])),
            ("bcc", ", ".join(wire["bcc"])),
            ("smtp_configured", "yes" if wire["smtp_configured"] else "no"),
        ],
    )


@app.command("settings")
def settings(
    organization_id: Annotated[str, typer.Argument(help="Organization id.")],
    allow_private_webhook_urls: Annotated[
        bool | None,
        typer.Option(
            "--allow-private-webhook-urls/--refuse-private-webhook-urls",
            help="Let webhook endpoints point at loopback, link-local and private addresses "
            "(refused by default: the server would call inside its own network).",
        ),
    ] = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Show the organization's operator settings; change the ones given."""
    with unit_of_work(database_url) as session:
        org = orgs.find_organization(session, organization_id)
        if allow_private_webhook_urls is not None:
            org.allow_private_webhook_urls = allow_private_webhook_urls
            org.updated_at = clock_from_env().now()
        allowed = org.allow_private_webhook_urls
    show_fields(
        "Organization settings",
        [
            ("organization", organization_id),
            ("allow_private_webhook_urls", "yes" if allowed else "no"),
        ],
    )
