"""`meterly quickstart` (what `make run` calls): schema, a demo organization, then serve."""

from __future__ import annotations

from meterly.cli.common import (
    DatabaseUrl,
    database_flag,
    program,
    settings_for,
    unit_of_work,
)
from meterly.cli.db import upgrade_schema
from meterly.cli.output import say, show_fields
from meterly.cli.serve import Host, Port, display_host, run_server
from meterly.config import DEFAULT_DATABASE_URL
from meterly.services.accounts import organizations as orgs

DEMO_NAME = "Demo"


def quickstart(
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    host: Host = "127.0.0.1",
    port: Port = 3000,
) -> None:
    """Upgrade the schema, create a "Demo" organization on first start, print its key, serve."""
    upgrade_schema(database_url)
    introduce(database_url, base_url=f"http://{display_host(host)}:{port}")
    run_server(settings_for(database_url), host=host, port=port)


def introduce(database_url: str, *, base_url: str) -> None:
    """First start: seed a living demo organization and show its key. Later: say how to get one."""
    with unit_of_work(database_url) as session:
        existing = [(org.id, org.name) for org in orgs.list_organizations(session)]
    if existing:
        org_id, name = existing[0]
        say(f"The database already has {len(existing)} organization(s), first {name} ({org_id}).")
        say("Keys are shown only once. Issue a new one with:")
        say(f"  {program()} api-key create --org {org_id}{database_flag(database_url)}")
        say(f"Dashboard: {base_url}/dashboard")
        return
    from meterly.cli.demo import seed_demo

    say("Empty database: seeding a demo organization (plans, customers, three months of events)...")
    report = seed_demo(database_url, name=DEMO_NAME)
    org_id, secret = report.organization_id, report.api_key
    show_fields(
        f"{DEMO_NAME} organization created",
        [("organization", org_id), ("key", secret)],
        notes=[
            f"Dashboard: {base_url}/dashboard (sign in with the key)",
            "Try the API:",
            f'curl -H "Authorization: Bearer {secret}" {base_url}/api/v1/billable_metrics',
        ],
    )
