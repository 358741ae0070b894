"""The operator dashboard under /dashboard: one organization's data, behind its API key.

Every query is scoped to the signed-in organization; an object of another organization
answers 404 exactly as an unknown one does.

One module per section, each with its own router: `sign_in`, `overview`, `customers`,
`catalogue` (plans and billable metrics), `invoices`, `events` and `deliveries` (webhooks);
`common` holds what they share. `router` gathers them for `meterly.web.install_web`.
"""

from __future__ import annotations

from fastapi import APIRouter

from meterly.web.dashboard import (
    activity,
    catalogue,
    customers,
    deliveries,
    emails,
    events,
    invoices,
    overview,
    payments,
    sign_in,
    users,
)

__all__ = ["router"]

router = APIRouter()
# Routes are tried in the order they are included: this is the order the single module
# declared them in, so a request matches the same route it always did.
router.include_router(sign_in.router)
router.include_router(overview.router)
router.include_router(customers.router)
router.include_router(catalogue.router)
router.include_router(invoices.router)
router.include_router(events.router)
router.include_router(deliveries.router)
router.include_router(emails.router)  # the e-mail log
router.include_router(payments.router)  # payments, receipts, manual payments
router.include_router(users.router)  # people and roles (admins)
router.include_router(activity.router)  # the audit logs
