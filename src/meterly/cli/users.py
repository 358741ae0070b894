"""`meterly user`: create and list the people who sign in to the dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from meterly.cli.common import DatabaseUrl, clock_from_env, fail, unit_of_work
from meterly.cli.output import show_fields, show_table, timestamp
from meterly.config import DEFAULT_DATABASE_URL
from meterly.services import operators
from meterly.services.accounts import organizations as orgs

app = typer.Typer(help="Create and list dashboard users.", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organization id.")]


@app.command("create")
def create(
    org: OrgOption,
    email: Annotated[str, typer.Option("--email", help="The user's e-mail (their sign-in).")],
    password: Annotated[
        str,
        typer.Option(
            "--password",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="METERLY_USER_PASSWORD",
            help="Asked for when not given (or METERLY_USER_PASSWORD).",
        ),
    ],
    admin: Annotated[bool, typer.Option("--admin", help="Give the admin role.")] = False,
    role: Annotated[
        str | None, typer.Option("--role", help="admin, finance or viewer (default viewer).")
    ] = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Create a user who signs in to the dashboard with this e-mail and password."""
    if admin and role not in (None, "admin"):
        fail("--admin and --role disagree: pass one of them")
    chosen = "admin" if admin else (role or "viewer")
    with unit_of_work(database_url) as session:
        orgs.find_organization(session, org)
        user = operators.create_user(
            session,
            organization_id=org,
            email=email,
            password=password,
            role=chosen,
            clock=clock_from_env(),
        )
        fields = [
            ("id", user.id),
            ("email", user.email),
            ("role", user.role),
            ("organization", org),
        ]
    show_fields("New user", fields, notes=["Sign in at /dashboard/login with this e-mail."])


@app.command("list")
def list_(org: OrgOption, database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """List an organization's users (never their passwords)."""
    with unit_of_work(database_url) as session:
        orgs.find_organization(session, org)
        rows = [
            [u.id, u.email, u.role, timestamp(u.created_at)]
            for u in operators.list_users(session, organization_id=org)
        ]
    show_table(["id", "email", "role", "created_at"], rows)
