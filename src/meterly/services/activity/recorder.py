"""Activity logs written by the unit of work itself, so no use case can forget them.

`install()` listens to every SQLAlchemy session: before each flush it notes the business
objects created, changed or deleted (with the values their fields had before), and just
before the commit it writes one activity log per object changed in that unit of work,
with the actor the adapter named (`actors.act_as`). An object created then changed in
the same unit of work is one "created" entry with its final state; one created and
deleted again leaves nothing. A rolled-back unit of work logs nothing.

Events are not business objects: ingestion goes through Core inserts that never reach
these hooks, and fees, usage caches, webhook deliveries and sequences are derived
bookkeeping, not changes anyone makes, so they are not listed in RESOURCES.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session, UOWTransaction

from meterly.services.activity.actors import actor_of
from meterly.services.common import Clock, new_id
from meterly.store.tables import ActivityLog, ApiKey, Customer, Subscription

# Table -> (Lago's resource_type, the prefix of its activity_type).
RESOURCES: dict[str, tuple[str, str]] = {
    "add_ons": ("AddOn", "add_on"),
    "alerts": ("UsageMonitoring::Alert", "alert"),
    "api_keys": ("ApiKey", "api_key"),
    "applied_coupons": ("AppliedCoupon", "applied_coupon"),
    "billable_metrics": ("BillableMetric", "billable_metric"),
    "billing_entities": ("BillingEntity", "billing_entity"),
    "coupons": ("Coupon", "coupon"),
    "credit_notes": ("CreditNote", "credit_note"),
    "customers": ("Customer", "customer"),
    "features": ("Feature", "feature"),
    "invitations": ("Invite", "invite"),
    "invoices": ("Invoice", "invoice"),
    "organizations": ("Organization", "organization"),
    "payment_provider_connections": ("PaymentProvider", "payment_provider"),
    "payments": ("Payment", "payment"),
    "plans": ("Plan", "plan"),
    "subscriptions": ("Subscription", "subscription"),
    "taxes": ("Tax", "tax"),
    "users": ("User", "user"),
    "wallet_transactions": ("WalletTransaction", "wallet_transaction"),
    "wallets": ("Wallet", "wallet"),
    "webhook_endpoints": ("WebhookEndpoint", "webhook_endpoint"),
}

# Fields never copied into a log: secrets, and their hashes (a log is read by more people).
_SECRET_MARKERS = ("password", "secret", "token", "hash", "hmac", "api_key", "private")
REDACTED = "[redacted]"
# A change of these alone is bookkeeping, not a change anyone made.
_BOOKKEEPING = frozenset({"updated_at", "last_used_at"})

_PENDING = "meterly.activity.pending"
_CLOCK = "meterly.activity.clock"


@dataclass(slots=True)
class _Pending:
    instance: Any
    action: str
    # The value each changed field had when this unit of work first changed it.
    before: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] | None = None


def install() -> None:
    """Listen to every session of the process (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)


def use_clock(session: Session, clock: Clock) -> None:
    """Stamp this session's logs with `clock` (a frozen clock in tests and demos)."""
    session.info[_CLOCK] = clock


def _resource(instance: Any) -> tuple[str, str] | None:
    table = getattr(instance, "__tablename__", None)
    return RESOURCES.get(table) if isinstance(table, str) else None


def _pending(session: Session) -> dict[int, _Pending]:
    # Keyed by the instance's identity in memory: the entry holds the instance, so the
    # key stays unique while the unit of work lasts, before and after the row has an id.
    found: dict[int, _Pending] | None = session.info.get(_PENDING)
    if found is None:
        found = session.info[_PENDING] = {}
    return found


def _before_flush(session: Session, _: UOWTransaction, __: Any) -> None:
    pending = _pending(session)
    for instance in session.new:
        if _resource(instance) is not None:
            pending[id(instance)] = _Pending(instance, "created")
    for instance in session.dirty:
        if _resource(instance) is None or not session.is_modified(instance):
            continue
        entry = pending.get(id(instance))
        if entry is None:
            entry = pending[id(instance)] = _Pending(instance, "updated")
        if entry.action == "created":
            continue
        state = inspect(instance)
        for attr in state.mapper.column_attrs:
            history = state.attrs[attr.key].history
            if history.has_changes() and attr.key not in entry.before:
                entry.before[attr.key] = history.deleted[0] if history.deleted else None
    for instance in session.deleted:
        if _resource(instance) is None:
            continue
        entry = pending.get(id(instance))
        if entry is not None and entry.action == "created":
            del pending[id(instance)]
            continue
        pending[id(instance)] = _Pending(instance, "deleted", final=_fields(instance))


def _before_commit(session: Session) -> None:
    # Flush first: the changes still in the session are part of this unit of work.
    session.flush()
    if not session.info.get(_PENDING):
        return
    pending = session.info.pop(_PENDING, {})
    actor = actor_of(session)
    actor_id = actor.id
    if actor.type == "api_key" and actor_id is None and actor.api_key_hash:
        actor_id = session.scalar(select(ApiKey.id).where(ApiKey.key_hash == actor.api_key_hash))
    clock = session.info.get(_CLOCK)
    now = clock.now() if clock is not None else datetime.now(UTC)
    rows = []
    for entry in pending.values():
        row = _log_row(session, entry)
        if row is None:
            continue
        row.update(
            actor_type=actor.type,
            actor_id=actor_id,
            activity_source=actor.source,
            user_email=actor.user_email,
            logged_at=now,
            created_at=now,
        )
        rows.append(row)
    if rows:
        # Plain rows, not ORM objects: a billing run logs thousands of invoices at once,
        # and the unit of work would cost more than the insert (nothing reads them back
        # in this transaction).
        session.execute(insert(ActivityLog), rows)


def _after_rollback(session: Session, _: Any) -> None:
    session.info.pop(_PENDING, None)


def _log_row(session: Session, entry: _Pending) -> dict[str, Any] | None:
    resource = _resource(entry.instance)
    if resource is None:
        return None
    resource_type, prefix = resource
    instance = entry.instance
    action = entry.action
    if entry.final is not None:
        state = entry.final
        changes: dict[str, Any] | None = None
    else:
        state = _fields(instance)
        if action == "created":
            changes = {k: [None, v] for k, v in state.items() if v is not None}
        else:
            changes = {
                k: [_plain(k, old), state.get(k)]
                for k, old in entry.before.items()
                if _plain(k, old) != state.get(k)
            }
            if not set(changes) - _BOOKKEEPING:
                return None
            if "deleted_at" in changes and changes["deleted_at"][0] is None:
                action = "deleted"
    organization_id = state.get("organization_id") or (
        state.get("id") if resource_type == "Organization" else None
    )
    if not organization_id:
        return None
    customer_ext, subscription_ext = _external_ids(session, instance)
    return {
        "id": new_id(),
        "organization_id": organization_id,
        "activity_type": f"{prefix}.{action}",
        "resource_type": resource_type,
        "resource_id": str(state.get("id", "")),
        "external_customer_id": customer_ext,
        "external_subscription_id": subscription_ext,
        "activity_object": state,
        "activity_object_changes": changes,
    }


def _external_ids(session: Session, instance: Any) -> tuple[str | None, str | None]:
    if isinstance(instance, Customer):
        return instance.external_id, None
    if isinstance(instance, Subscription):
        customer = session.get(Customer, instance.customer_id)
        return (customer.external_id if customer else None), instance.external_id
    customer_id = getattr(instance, "customer_id", None)
    if isinstance(customer_id, str):
        customer = session.get(Customer, customer_id)
        return (customer.external_id if customer else None), None
    return None, None


def _fields(instance: Any) -> dict[str, Any]:
    state = inspect(instance)
    return {
        attr.key: _plain(attr.key, getattr(instance, attr.key))
        for attr in state.mapper.column_attrs
    }


def _plain(name: str, value: Any) -> Any:
    """A field's value as JSON can hold it, secrets replaced."""
    if value is None:
        return None
    if any(marker in name for marker in _SECRET_MARKERS):
        return REDACTED
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # Normalized: PostgreSQL reads 20 back as 20.000000000000000, still the same 20.
        return format(value.normalize(), "f")
    if isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)
