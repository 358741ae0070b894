"""Which customers a unit of work may touch: the live ones, or one test clock's.

Customers under a test clock live at the clock's time, so the live billing run, the worker
loops and the revenue figures must never see them, and advancing a clock must see only
them. The boundary and due queries add `in_scope(<customer id column>)`; the scope is live
unless a test clock's advance set it with `clock_scope(clock_id)` for the work it runs.
Like `billing_cache.active`, the scope rides a context variable rather than a parameter on
every function the billing run calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import ColumnElement, exists, not_, or_
from sqlalchemy.orm import aliased

from meterly.store.tables import Alert, Customer, Subscription, Wallet

_clock_id: ContextVar[str | None] = ContextVar("test_clock_scope", default=None)


@contextmanager
def clock_scope(test_clock_id: str) -> Iterator[None]:
    """Within the block, scoped queries see the customers of `test_clock_id` only."""
    token = _clock_id.set(test_clock_id)
    try:
        yield
    finally:
        _clock_id.reset(token)


def current() -> str | None:
    """The test clock of the running scope; None: live."""
    return _clock_id.get()


def in_scope(customer_id: Any) -> ColumnElement[bool]:
    """The row's customer belongs to the running scope (live: no test clock)."""
    # An alias: the outer query may join customers itself (a customer's revenue), and the
    # subquery must not correlate to that.
    customer = aliased(Customer)
    clock_id = _clock_id.get()
    if clock_id is None:
        # An anti-join on the (small, indexed) set of test-clock customers.
        return ~exists().where(customer.id == customer_id, customer.test_clock_id.is_not(None))
    return exists().where(customer.id == customer_id, customer.test_clock_id == clock_id)


def alert_in_scope() -> ColumnElement[bool]:
    """An alert watches a subscription (by external id) or a wallet: it follows their
    customer's scope; live, an alert on neither stays live."""
    clock_id = _clock_id.get()
    customer, subscription = aliased(Customer), aliased(Subscription)
    customer_clock = (
        customer.test_clock_id.is_not(None)
        if clock_id is None
        else customer.test_clock_id == clock_id
    )
    by_subscription = exists().where(
        subscription.organization_id == Alert.organization_id,
        subscription.external_id == Alert.external_subscription_id,
        customer.id == subscription.customer_id,
        customer_clock,
    )
    wallet = aliased(Wallet)
    by_wallet = exists().where(
        wallet.id == Alert.wallet_id, customer.id == wallet.customer_id, customer_clock
    )
    either = or_(by_subscription, by_wallet)
    return not_(either) if clock_id is None else either
