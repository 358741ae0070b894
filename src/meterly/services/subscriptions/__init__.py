"""Subscriptions as the API knows them: changes (create, plan change, update, terminate)
from `lifecycle`, the clock job ending those whose `ending_at` has come (`ending`), and
the reads of `services.accounts` they build on."""

from meterly.services.accounts import subscriptions as _reads
from meterly.services.subscriptions.ending import terminate_ended
from meterly.services.subscriptions.lifecycle import (
    TERMINATION_CREDIT_NOTES,
    TERMINATION_INVOICES,
    SubscriptionInput,
    create,
    terminate,
    update,
)

STATUSES = _reads.STATUSES
active = _reads.active
current_period = _reads.current_period
find = _reads.find
list_page = _reads.list_page
next_subscription = _reads.next_subscription
timezone_of = _reads.timezone_of

__all__ = [
    "STATUSES",
    "TERMINATION_CREDIT_NOTES",
    "TERMINATION_INVOICES",
    "SubscriptionInput",
    "active",
    "create",
    "current_period",
    "find",
    "list_page",
    "next_subscription",
    "terminate",
    "terminate_ended",
    "timezone_of",
    "update",
]
