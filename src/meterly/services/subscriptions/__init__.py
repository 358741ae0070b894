"""Subscriptions as the API knows them: changes (create, plan change, update, terminate)
from `lifecycle`, the clock job ending those whose `ending_at` has come (`ending`), and
the reads of `services.accounts` they build on."""

from meterly.services.accounts import subscriptions as _reads
from meterly.services.subscriptions import overrides
from meterly.services.subscriptions.ending import terminate_ended
from meterly.services.subscriptions.lifecycle import (
    TERMINATION_CREDIT_NOTES,
    TERMINATION_INVOICES,
    SubscriptionInput,
    create,
    started,
    terminate,
    update,
)
from meterly.services.subscriptions.notices import (
    TERMINATION_ALERT_DAYS,
    alert_terminations,
    end_trials,
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
    "TERMINATION_ALERT_DAYS",
    "TERMINATION_CREDIT_NOTES",
    "TERMINATION_INVOICES",
    "SubscriptionInput",
    "active",
    "alert_terminations",
    "create",
    "current_period",
    "end_trials",
    "find",
    "list_page",
    "next_subscription",
    "overrides",
    "started",
    "terminate",
    "terminate_ended",
    "timezone_of",
    "update",
]
