"""`meterly demo`: seed a realistic demo organization (plans, customers, events, invoices)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from meterly.cli.common import (
    DatabaseUrl,
    clock_from_env,
    open_database,
    reporting_errors,
    settings_for,
)
from meterly.cli.db import upgrade_schema
from meterly.cli.output import say, show_fields
from meterly.config import DEFAULT_DATABASE_URL, with_secret_key
from meterly.services import demo as demo_service
from meterly.services.analytics import portal

Customers = Annotated[int, typer.Option(min=1, max=5000, help="How many customers to create.")]
Months = Annotated[int, typer.Option(min=1, max=24, help="Months of history to bill.")]
Name = Annotated[str, typer.Option(help="Name of the demo organization.")]


def demo(
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    customers: Customers = 100,
    months: Months = 3,
    name: Name = "Demo",
) -> None:
    """Create a demo organization with months of usage and billed invoices; print its key."""
    upgrade_schema(database_url)
    report = seed_demo(database_url, customers=customers, months=months, name=name)
    settings = settings_for(database_url)
    base = settings.public_url.rstrip("/")
    with open_database(database_url) as database, database.sessions() as session:
        link = portal.portal_url(
            session,
            organization_id=report.organization_id,
            external_customer_id=report.first_customer,
            secret_key=with_secret_key(settings).signing_key,
            public_url=base,
            now=clock_from_env().now(),
        )
    show_fields(
        f"{name} organization seeded",
        [
            ("organization", report.organization_id),
            ("key", report.api_key),
            ("customers", str(report.customers)),
            ("events", str(report.events)),
            ("invoices", str(report.invoices)),
        ],
        notes=[
            f"Dashboard: {base}/dashboard (sign in with the key above)",
            f"Portal of {report.first_customer} (12 hours): {link}",
        ],
    )


def seed_demo(
    database_url: str, *, customers: int = 100, months: int = 3, name: str = "Demo"
) -> demo_service.DemoReport:
    """Seed the demo organization (what `make run` can call on an empty database)."""
    started = time.monotonic()
    with open_database(database_url) as database, reporting_errors():
        report = demo_service.seed(
            database,
            clock=clock_from_env(),
            name=name,
            customers=customers,
            months=months,
            on_step=lambda m: say(f"  {m} ({time.monotonic() - started:.1f}s)"),
        )
    return report
