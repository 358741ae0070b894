"""Every router of /api/v1, in one list the app mounts."""

from fastapi import APIRouter

from meterly.api.routes import (
    billable_metrics,
    customers,
    events,
    organizations,
    subscriptions,
    usage,
)

ROUTERS: list[APIRouter] = [
    billable_metrics.router,
    organizations.router,
    customers.router,
    events.router,
    subscriptions.router,
    usage.router,
]
