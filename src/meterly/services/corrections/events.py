"""Void or amend a stored event: the row stays, the change and its author are recorded.

A correction changes what every usage statement reads from now on (current usage, drafts,
the next invoice). What was already finalized is never rewritten: the correction run
(`issue.py`) issues a credit note or a correction invoice for it instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.services.activity import actor_of
from meterly.services.common import Clock, new_id
from meterly.services.metering import ingest
from meterly.store import event_corrections as store
from meterly.store.tables import EventCorrection

VOID = "void"
AMEND = "amend"
LATE = "late"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _refuse_second_store(session: Session) -> None:
    if not store.supported(session.connection()):
        raise NotAllowed(
            "event_corrections_not_supported", "events live in the ClickHouse event store"
        )


def actor_name(session: Session) -> str:
    """Who makes the change, for the audit trail (an API key, a person, or the system)."""
    actor = actor_of(session)
    if actor.type == "user":
        return f"user:{actor.user_email or actor.id}"
    if actor.type == "api_key":
        who = actor.id or (actor.api_key_hash[:12] if actor.api_key_hash else "")
        return f"api_key:{who}"
    return "system"


def _the_event(
    session: Session,
    organization_id: str,
    transaction_id: str,
    external_subscription_id: str | None,
) -> dict[str, Any]:
    found = store.events_of(
        session.connection(),
        organization_id=organization_id,
        transaction_id=transaction_id,
        external_subscription_id=external_subscription_id,
    )
    if not found:
        raise NotFound("event")
    if len(found) > 1:
        # One transaction id per subscription: which one must be said.
        raise ValidationFailed.field("external_subscription_id", "value_is_mandatory")
    event = found[0]
    if event["voided_at"] is not None:
        raise NotAllowed("event_voided", "the event is voided")
    return event


def _snapshot(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"timestamp": _iso(event["timestamp"]), "properties": dict(event["properties"] or {})}


def _record(
    session: Session,
    event: Mapping[str, Any],
    *,
    kind: str,
    after: dict[str, Any] | None,
    now: datetime,
) -> EventCorrection:
    row = EventCorrection(
        id=new_id(),
        organization_id=event["organization_id"],
        transaction_id=event["transaction_id"],
        external_subscription_id=event["external_subscription_id"],
        code=event["code"],
        kind=kind,
        before=_snapshot(event),
        after=after,
        actor=actor_name(session),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def void_event(
    session: Session,
    *,
    organization_id: str,
    transaction_id: str,
    external_subscription_id: str | None = None,
    clock: Clock,
) -> dict[str, Any]:
    """Void a stored event; the voided row, as stored now."""
    _refuse_second_store(session)
    event = _the_event(session, organization_id, transaction_id, external_subscription_id)
    now = clock.now()
    if not store.void(
        session.connection(),
        organization_id=organization_id,
        transaction_id=transaction_id,
        external_subscription_id=event["external_subscription_id"],
        at=now,
    ):
        raise NotAllowed("event_voided", "the event is voided")
    _record(session, event, kind=VOID, after=None, now=now)
    return {**event, "voided_at": now}


def parse_amendment(raw: object) -> tuple[dict[str, Any] | None, datetime | None]:
    """The new properties and timestamp of `{"properties": {...}, "timestamp": ...}`."""
    if not isinstance(raw, dict):
        raise ValidationFailed.field("event", "value_is_invalid")
    errors: dict[str, list[str]] = {}
    properties = raw.get("properties")
    if properties is not None and not isinstance(properties, dict):
        errors["properties"] = ["value_is_invalid"]
    timestamp = None
    if raw.get("timestamp") is not None:
        timestamp = ingest.parse_timestamp(raw["timestamp"])
        if timestamp is None:
            errors["timestamp"] = ["invalid_format"]
    if properties is None and raw.get("timestamp") is None and not errors:
        errors["properties"] = ["value_is_mandatory"]
    if errors:
        raise ValidationFailed(errors)
    return properties, timestamp


def amend_event(
    session: Session,
    *,
    organization_id: str,
    transaction_id: str,
    external_subscription_id: str | None = None,
    raw: object,
    clock: Clock,
) -> dict[str, Any]:
    """Replace a stored event's properties and/or timestamp; the amended row."""
    properties, timestamp = parse_amendment(raw)
    _refuse_second_store(session)
    event = _the_event(session, organization_id, transaction_id, external_subscription_id)
    now = clock.now()
    new_properties = properties if properties is not None else dict(event["properties"] or {})
    new_timestamp = timestamp or event["timestamp"]
    if not store.amend(
        session.connection(),
        organization_id=organization_id,
        transaction_id=transaction_id,
        external_subscription_id=event["external_subscription_id"],
        timestamp=new_timestamp,
        properties=new_properties,
        at=now,
    ):
        raise NotAllowed("event_voided", "the event is voided")
    after = {"timestamp": _iso(new_timestamp), "properties": new_properties}
    _record(session, event, kind=AMEND, after=after, now=now)
    return {**event, "timestamp": new_timestamp, "properties": new_properties, "amended_at": now}
