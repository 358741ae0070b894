"""Every router of /api/v1, in one list the app mounts."""

from fastapi import APIRouter

from meterly.api.routes import (
    add_ons,
    alerts,
    analytics,
    billable_metrics,
    coupons,
    credit_notes,
    customers,
    events,
    fees,
    files,
    invoices,
    one_off_invoices,
    organizations,
    plans,
    portal,
    subscriptions,
    taxes,
    usage,
    wallets,
    webhook_endpoints,
)

ROUTERS: list[APIRouter] = [
    billable_metrics.router,
    organizations.router,
    customers.router,
    events.router,
    one_off_invoices.router,  # POST /invoices, before the invoices router
    invoices.router,
    invoices.customers_router,
    fees.router,
    files.router,
    alerts.router,
    subscriptions.router,
    usage.router,
    plans.router,
    taxes.router,
    webhook_endpoints.router,
    credit_notes.router,
    credit_notes.customers_router,
    credit_notes.files_router,
    coupons.router,
    coupons.applied_router,
    coupons.customers_router,
    add_ons.router,
    analytics.router,
    portal.router,
    wallets.router,
]
