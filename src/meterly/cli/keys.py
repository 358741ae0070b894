"""`meterly api-key`: issue, list and revoke API keys. Secrets are shown once, never listed."""

from __future__ import annotations

from typing import Annotated

import typer

from meterly.cli.common import DatabaseUrl, clock_from_env, unit_of_work
from meterly.cli.output import say, show_fields, show_table, timestamp
from meterly.config import DEFAULT_DATABASE_URL
from meterly.services.accounts import organizations as orgs

app = typer.Typer(help="Issue, list and revoke API keys.", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organization id.")]


@app.command("create")
def create(
    org: OrgOption,
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Issue a new API key for an organization and print it (shown only this once)."""
    with unit_of_work(database_url) as session:
        orgs.find_organization(session, org)
        key = orgs.create_api_key(session, organization_id=org, clock=clock_from_env(), name=name)
    show_fields(
        "New API key",
        [("organization", org), ("key_id", key.id), ("key", key.secret)],
        notes=["The key is shown only once: keep it somewhere safe."],
    )


@app.command("list")
def list_(org: OrgOption, database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """List an organization's keys: id, name and prefix (never the secret)."""
    with unit_of_work(database_url) as session:
        orgs.find_organization(session, org)
        rows = [
            [
                key.id,
                key.name or "",
                f"{key.key_prefix}…",
                timestamp(key.created_at),
                "revoked" if key.revoked_at else "active",
            ]
            for key in orgs.list_api_keys(session, organization_id=org)
        ]
    show_table(["id", "name", "prefix", "created_at", "status"], rows)


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `meterly api-key list`).")],
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Revoke a key: requests made with it get 401 (other processes notice within 10 s)."""
    with unit_of_work(database_url) as session:
        orgs.revoke_api_key(session, key_id=key_id, clock=clock_from_env())
    say(f"revoked: {key_id}")
