"""`meterly quickstart` (what `make run` calls): schema, a demo organization, then serve."""

from __future__ import annotations

import os

from meterly.cli.common import (
    DatabaseUrl,
    clock_from_env,
    database_flag,
    program,
    settings_for,
    unit_of_work,
)
from meterly.cli.db import upgrade_schema
from meterly.cli.output import say, show_fields
from meterly.cli.serve import (
    Host,
    NoWorker,
    Port,
    display_host,
    ensure_port_free,
    run_server,
)
from meterly.config import DEFAULT_DATABASE_URL, with_secret_key
from meterly.services.accounts import customers
from meterly.services.accounts import organizations as orgs
from meterly.services.analytics import portal

DEMO_NAME = "Demo"


def quickstart(
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    host: Host = "127.0.0.1",
    port: Port = 3000,
    no_worker: NoWorker = False,
) -> None:
    """Upgrade the schema, create a "Demo" organization on first start, print its key, serve.

    The same process bills each period as it closes and delivers webhooks (the worker's
    loops), unless --no-worker.
    """
    ensure_port_free(host, port)
    upgrade_schema(database_url)
    base_url = f"http://{display_host(host)}:{port}"
    introduce(database_url, base_url=base_url)
    link = demo_portal_link(database_url, base_url=base_url)
    notes = [f"Portal:    {link}"] if link else []
    run_server(
        settings_for(database_url), host=host, port=port, with_worker=not no_worker, notes=notes
    )


def demo_portal_link(database_url: str, *, base_url: str) -> str | None:
    """A 12-hour portal link for the first organization's newest customer, if there is one."""
    settings = with_secret_key(settings_for(database_url))
    public_url = settings.public_url if "METERLY_PUBLIC_URL" in os.environ else base_url
    with unit_of_work(database_url) as session:
        organizations = orgs.list_organizations(session)
        if not organizations:
            return None
        organization_id = organizations[0].id
        rows, _total = customers.list_page(
            session, organization_id=organization_id, page=1, per_page=1
        )
        if not rows:
            return None
        return portal.portal_url(
            session,
            organization_id=organization_id,
            external_customer_id=rows[0].external_id,
            secret_key=settings.signing_key,
            public_url=public_url,
            now=clock_from_env().now(),
        )


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
