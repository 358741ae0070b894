"""Ingestion: validate at the edge, append with transaction_id as the idempotency key.

Like Lago, ingestion does not look up the subscription or the metric's existence: it only
validates the event's own fields, evaluates a metric expression when the code has one,
and appends. Billing reads the events later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.expressions import EventContext, ExpressionError, parse_expression
from meterly.services.common import Clock, new_id
from meterly.services.metering.clock_times import stamp, stamp_one
from meterly.store.repositories import events as event_store
from meterly.store.tables import BillableMetricRow

MAX_BATCH = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    properties: dict[str, Any]
    precise_total_amount_cents: Decimal | None


def validate(raw: Mapping[str, Any], *, now: datetime) -> IncomingEvent:
    """One event's own fields, Lago's rules; raises ValidationFailed with every problem."""
    errors: dict[str, list[str]] = {}
    for name in ("transaction_id", "code", "external_subscription_id"):
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors[name] = ["value_is_mandatory"]
        elif not isinstance(value, str | int):
            errors[name] = ["value_is_invalid"]
    timestamp = now
    if raw.get("timestamp") is not None:
        parsed = parse_timestamp(raw["timestamp"])
        if parsed is None:
            errors["timestamp"] = ["invalid_format"]
        else:
            timestamp = parsed
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    elif not isinstance(properties, dict):
        errors["properties"] = ["value_is_invalid"]
    precise: Decimal | None = None
    if raw.get("precise_total_amount_cents") is not None:
        # Lago casts the value into a decimal column: what is not a decimal is stored as 0
        # and the event is accepted (issue 19, lago-semantics item 13).
        precise = _decimal(raw["precise_total_amount_cents"])
        if precise is None:
            precise = Decimal(0)
    if errors:
        raise ValidationFailed(errors)
    return IncomingEvent(
        transaction_id=str(raw["transaction_id"]),
        external_subscription_id=str(raw["external_subscription_id"]),
        code=str(raw["code"]),
        timestamp=timestamp,
        properties=properties,
        precise_total_amount_cents=precise,
    )


def parse_timestamp(value: object) -> datetime | None:
    """Unix seconds, integer or decimal, as a number or a numeric string (Lago's rule)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        # The common shapes ("1705312800", "1705312800.123456") without Decimal: whole
        # seconds and up to six digits of fraction convert exactly.
        whole, dot, fraction = value.partition(".")
        digits = (whole + fraction).isascii()
        if digits and whole.isdigit() and (not dot or (fraction.isdigit() and len(fraction) <= 6)):
            try:
                moment = _EPOCH + timedelta(seconds=int(whole))
            except OverflowError:
                return None
            if fraction:
                moment += timedelta(microseconds=int(fraction.ljust(6, "0")))
            return moment
    elif isinstance(value, int):
        try:
            return _EPOCH + timedelta(seconds=value)
        except OverflowError:
            return None
    number = _decimal(value)
    if number is None:
        return None
    try:
        seconds = int(number)
        micros = int(((number - seconds) * 1_000_000).to_integral_value())
        return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros)
    except (OverflowError, ValueError, OSError):
        return None


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


class _ExpressionCache:
    """Metric expressions by (organization, code), refreshed every few seconds.

    Ingestion must not query the metrics table per event; an expression added to a metric
    applies to events received a few seconds later at most.
    """

    TTL = 5.0

    def __init__(self) -> None:
        self._by_org: dict[str, tuple[float, dict[str, tuple[str, Any]]]] = {}
        self._loading: set[str] = set()
        self._lock = threading.Lock()

    def cached(self, organization_id: str) -> dict[str, tuple[str, Any]] | None:
        """The expressions without touching the database, or None: then load them.

        When they have just gone stale, the first caller is told to reload and the others
        keep the stale table meanwhile: under load, one query per TTL, not one per request.
        """
        cached = self._by_org.get(organization_id)
        if cached is None:
            return None
        expires, table = cached
        if expires > time.monotonic():
            return table
        with self._lock:
            if organization_id in self._loading:
                return table
            self._loading.add(organization_id)
        return None

    def for_org(self, session: Session, organization_id: str) -> dict[str, tuple[str, Any]]:
        cached = self._by_org.get(organization_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            rows = session.execute(
                select(
                    BillableMetricRow.code,
                    BillableMetricRow.field_name,
                    BillableMetricRow.expression,
                ).where(
                    BillableMetricRow.organization_id == organization_id,
                    BillableMetricRow.deleted_at.is_(None),
                    BillableMetricRow.expression.is_not(None),
                )
            )
            table = {
                code: (field or code, parse_expression(expr)) for code, field, expr in rows if expr
            }
            with self._lock:
                self._by_org[organization_id] = (time.monotonic() + self.TTL, table)
        finally:
            with self._lock:
                self._loading.discard(organization_id)
        return table

    def clear(self) -> None:
        with self._lock:
            self._by_org.clear()


EXPRESSIONS = _ExpressionCache()


def _with_expression(
    event: IncomingEvent, expressions: Mapping[str, tuple[str, Any]]
) -> IncomingEvent:
    entry = expressions.get(event.code)
    if entry is None:
        return event
    field_name, expression = entry
    context = EventContext(
        code=event.code,
        timestamp=Decimal(str(event.timestamp.timestamp())),
        properties=event.properties,
    )
    try:
        value = expression.evaluate(context)
    except ExpressionError:
        raise ValidationFailed.field("properties", "invalid_expression_evaluation") from None
    properties = dict(event.properties)
    properties[field_name] = format(value, "f") if isinstance(value, Decimal) else value
    return IncomingEvent(
        transaction_id=event.transaction_id,
        external_subscription_id=event.external_subscription_id,
        code=event.code,
        timestamp=event.timestamp,
        properties=properties,
        precise_total_amount_cents=event.precise_total_amount_cents,
    )


def _row(organization_id: str, event: IncomingEvent, now: datetime) -> dict[str, Any]:
    return {
        "organization_id": organization_id,
        "transaction_id": event.transaction_id,
        "external_subscription_id": event.external_subscription_id,
        "code": event.code,
        "timestamp": event.timestamp,
        "properties": event.properties,
        "precise_total_amount_cents": event.precise_total_amount_cents,
        "lago_id": new_id(),
        "created_at": now,
    }


def prepare_one(
    *,
    organization_id: str,
    raw: Mapping[str, Any],
    now: datetime,
    expressions: Mapping[str, tuple[str, Any]],
) -> dict[str, Any]:
    """One validated event as the row to append."""
    event = _with_expression(validate(raw, now=now), expressions)
    return _row(organization_id, event, now)


def prepare_batch(
    *,
    organization_id: str,
    raw_events: object,
    now: datetime,
    expressions: Mapping[str, tuple[str, Any]],
) -> list[dict[str, Any]]:
    """Every event validated; any error rejects the whole batch, keyed by index."""
    if not isinstance(raw_events, list) or not raw_events:
        raise ValidationFailed.field("events", "no_events")
    if len(raw_events) > MAX_BATCH:
        raise ValidationFailed.field("events", "too_many_events")
    errors: dict[str, object] = {}
    accepted: list[IncomingEvent] = []
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(raw_events):
        try:
            if not isinstance(raw, dict):
                raise ValidationFailed.field("event", "value_is_invalid")
            event = _with_expression(validate(raw, now=now), expressions)
        except ValidationFailed as exc:
            errors[str(index)] = exc.details
            continue
        key = (event.transaction_id, event.external_subscription_id)
        if key in seen:
            errors[str(index)] = {"transaction_id": ["value_already_exist"]}
            continue
        seen.add(key)
        accepted.append(event)
    if errors:
        raise ValidationFailed(errors)
    return [_row(organization_id, e, now) for e in accepted]


def require_new(rows: Sequence[dict[str, Any]], new_keys: set[tuple[str, str]]) -> None:
    """Lago's answer when an event was stored before: 422 value_already_exist."""
    if len(new_keys) == len(rows):
        return
    if len(rows) == 1:
        raise ValidationFailed.field("transaction_id", "value_already_exist")
    raise ValidationFailed(
        {
            str(i): {"transaction_id": ["value_already_exist"]}
            for i, r in enumerate(rows)
            if (r["transaction_id"], r["external_subscription_id"]) not in new_keys
        }
    )


def ingest_one(
    session: Session, *, organization_id: str, raw: Mapping[str, Any], clock: Clock
) -> dict[str, Any]:
    """Append one event in the caller's unit of work (the API uses the group-commit writer)."""
    row = prepare_one(
        organization_id=organization_id,
        raw=stamp_one(session, organization_id, raw),
        now=clock.now(),
        expressions=EXPRESSIONS.for_org(session, organization_id),
    )
    require_new([row], event_store.insert_new(session.connection(), [row]))
    return row


def ingest_batch(
    session: Session, *, organization_id: str, raw_events: object, clock: Clock
) -> list[dict[str, Any]]:
    """All or nothing, in the caller's unit of work: raising rolls the whole batch back."""
    if isinstance(raw_events, list):
        raw_events = stamp(session, organization_id, raw_events)
    rows = prepare_batch(
        organization_id=organization_id,
        raw_events=raw_events,
        now=clock.now(),
        expressions=EXPRESSIONS.for_org(session, organization_id),
    )
    require_new(rows, event_store.insert_new(session.connection(), rows))
    return rows


def find(session: Session, *, organization_id: str, transaction_id: str) -> dict[str, Any]:
    row = event_store.find_by_transaction_id(session.connection(), organization_id, transaction_id)
    if row is None:
        raise NotFound("event")
    return dict(row)


def list_page(
    session: Session, *, organization_id: str, page: int, per_page: int, **filters: Any
) -> tuple[list[dict[str, Any]], int]:
    rows, total = event_store.list_page(
        session.connection(),
        organization_id=organization_id,
        page=page,
        per_page=per_page,
        **filters,
    )
    return [dict(r) for r in rows], total


def batch_keys(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["transaction_id"], r["external_subscription_id"]) for r in rows]
