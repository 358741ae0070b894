"""The operator dashboard under /dashboard: one organization's data, behind its API key.

Every query is scoped to the signed-in organization; an object of another organization
answers 404 exactly as an unknown one does.

One module per section, each with its own router: `sign_in`, `overview`, `customers`,
`catalogue` (plans and billable metrics), `invoices`, `events` and `deliveries` (webhooks);
`common` holds what they share. The forms of daily operations: `customer_forms`,
`subscription_forms` (with the plan-change preview), `credit_forms` (coupons, credit
notes), `wallet_forms` and `billing_forms` (add-ons, one-off invoices), with `form_kit`
(typed fields, errors in words). `router` gathers them for `meterly.web.install_web`.
"""

from __future__ import annotations

from fastapi import APIRouter

from meterly.web.dashboard import (
    activity,
    alerts,
    billing_forms,
    catalogue,
    credit_forms,
    customer_forms,
    customers,
    deliveries,
    emails,
    events,
    integrations,
    invoices,
    missing,
    overview,
    payments,
    plan_charges,
    plan_editor,
    settings,
    sign_in,
    signing_key,
    subscription_forms,
    taxes,
    users,
    wallet_forms,
)

__all__ = ["router"]

router = APIRouter()
# Routes are tried in the order they are included: this is the order the single module
# declared them in, so a request matches the same route it always did.
router.include_router(sign_in.router)
router.include_router(overview.router)
# The forms' fixed paths (/customers/new) come before /customers/{external_id}.
router.include_router(customer_forms.router)  # create, edit, delete customers
router.include_router(subscription_forms.router)  # subscribe, change plan, terminate
router.include_router(credit_forms.router)  # coupons, credit notes
router.include_router(wallet_forms.router)  # wallets, top-ups, rules
router.include_router(billing_forms.router)  # add-ons, one-off invoices
router.include_router(customers.router)
router.include_router(catalogue.router)
router.include_router(plan_editor.router)  # a plan: create, show, edit, delete
router.include_router(plan_charges.router)  # a plan's charges: add, edit, remove
router.include_router(invoices.router)
router.include_router(events.router)
router.include_router(deliveries.router)
router.include_router(signing_key.router)  # the webhook HMAC key (admins)
router.include_router(emails.router)  # the e-mail log
router.include_router(payments.router)  # payments, receipts, manual payments
router.include_router(users.router)  # people and roles (admins)
router.include_router(activity.router)  # the audit logs
router.include_router(taxes.router)  # taxes (settings area)
router.include_router(settings.router)  # organization settings
router.include_router(integrations.router)  # webhook endpoints, API keys
router.include_router(alerts.router)  # usage alerts of subscriptions
# Keep last: it answers every GET no section above claimed with the HTML 404 page.
router.include_router(missing.router)
