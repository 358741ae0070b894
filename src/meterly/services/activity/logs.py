"""Reading the audit logs, writing API logs, and pruning both after the retention period."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, Select, delete, func, or_, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.store.tables import ActivityLog, ApiKey, ApiLog

DEFAULT_RETENTION_DAYS = 90
# Request bodies longer than this are not kept: a log is for who did what, not a backup.
MAX_LOGGED_BODY = 16 * 1024
_SECRET_FIELDS = ("password", "secret", "token", "api_key", "hmac", "private_key", "webhook_key")
REDACTED = "[redacted]"


def logs_max_body() -> int:
    return MAX_LOGGED_BODY


def retention_days() -> int:
    """METERLY_AUDIT_RETENTION_DAYS (default 90); 0 keeps the logs forever."""
    raw = os.environ.get("METERLY_AUDIT_RETENTION_DAYS", "").strip()
    try:
        return max(int(raw), 0) if raw else DEFAULT_RETENTION_DAYS
    except ValueError:
        return DEFAULT_RETENTION_DAYS


def prune(session: Session, *, now: datetime, days: int) -> int:
    """Delete activity and API logs older than `days` days; how many rows went."""
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    gone = 0
    for statement in (
        delete(ActivityLog).where(ActivityLog.logged_at < cutoff),
        delete(ApiLog).where(ApiLog.logged_at < cutoff),
    ):
        result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
        gone += result.rowcount or 0
    return gone


@dataclass(frozen=True, slots=True)
class ActivityFilters:
    from_date: date | None = None
    to_date: date | None = None
    activity_types: Sequence[str] = ()
    activity_sources: Sequence[str] = ()
    user_emails: Sequence[str] = ()
    external_customer_id: str | None = None
    external_subscription_id: str | None = None
    resource_ids: Sequence[str] = ()
    resource_types: Sequence[str] = ()
    # The dashboard's free-text search: type, resource type or id, external ids, e-mail.
    search: str | None = None


@dataclass(frozen=True, slots=True)
class ApiLogFilters:
    from_date: date | None = None
    to_date: date | None = None
    http_methods: Sequence[str] = ()
    statuses: Sequence[int] = ()
    # Lago's generic statuses: succeeded (below 400) or failed (400 and above).
    outcomes: Sequence[str] = ()
    api_version: str | None = None
    request_path: str | None = None


def parse_date(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.field(name, "invalid_date") from None


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def list_activity(
    session: Session, *, organization_id: str, filters: ActivityFilters, page: int, per_page: int
) -> tuple[list[ActivityLog], int]:
    query = select(ActivityLog).where(ActivityLog.organization_id == organization_id)
    f = filters
    if f.from_date:
        query = query.where(ActivityLog.logged_at >= _start(f.from_date))
    if f.to_date:
        query = query.where(ActivityLog.logged_at < _start(f.to_date + timedelta(days=1)))
    if f.activity_types:
        query = query.where(ActivityLog.activity_type.in_(f.activity_types))
    if f.activity_sources:
        query = query.where(ActivityLog.activity_source.in_(f.activity_sources))
    if f.user_emails:
        query = query.where(ActivityLog.user_email.in_([e.lower() for e in f.user_emails]))
    if f.external_customer_id:
        query = query.where(ActivityLog.external_customer_id == f.external_customer_id)
    if f.external_subscription_id:
        query = query.where(ActivityLog.external_subscription_id == f.external_subscription_id)
    if f.resource_ids:
        query = query.where(ActivityLog.resource_id.in_(f.resource_ids))
    if f.resource_types:
        query = query.where(ActivityLog.resource_type.in_(f.resource_types))
    if f.search:
        term = f"%{f.search.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(ActivityLog.activity_type).like(term),
                func.lower(ActivityLog.resource_type).like(term),
                ActivityLog.resource_id.like(term),
                func.lower(ActivityLog.external_customer_id).like(term),
                func.lower(ActivityLog.external_subscription_id).like(term),
                func.lower(ActivityLog.user_email).like(term),
            )
        )
    return _page(session, query, ActivityLog.logged_at, ActivityLog.id, page, per_page)


def find_activity(session: Session, *, organization_id: str, activity_id: str) -> ActivityLog:
    row = session.get(ActivityLog, activity_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound("activity_log")
    return row


def list_api_logs(
    session: Session, *, organization_id: str, filters: ApiLogFilters, page: int, per_page: int
) -> tuple[list[ApiLog], int]:
    query = select(ApiLog).where(ApiLog.organization_id == organization_id)
    f = filters
    if f.from_date:
        query = query.where(ApiLog.logged_at >= _start(f.from_date))
    if f.to_date:
        query = query.where(ApiLog.logged_at < _start(f.to_date + timedelta(days=1)))
    if f.http_methods:
        query = query.where(ApiLog.http_method.in_([m.lower() for m in f.http_methods]))
    status_terms: list[ColumnElement[bool]] = []
    if f.statuses:
        status_terms.append(ApiLog.http_status.in_(f.statuses))
    if "succeeded" in f.outcomes:
        status_terms.append(ApiLog.http_status < 400)
    if "failed" in f.outcomes:
        status_terms.append(ApiLog.http_status >= 400)
    if status_terms:
        query = query.where(or_(*status_terms))
    if f.api_version:
        query = query.where(ApiLog.api_version == f.api_version)
    if f.request_path:
        query = query.where(ApiLog.request_path.like(f"%{f.request_path}%"))
    return _page(session, query, ApiLog.logged_at, ApiLog.request_id, page, per_page)


def find_api_log(session: Session, *, organization_id: str, request_id: str) -> ApiLog:
    row = session.get(ApiLog, request_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound("api_log")
    return row


def _page(
    session: Session, query: Select[Any], stamp: Any, tiebreak: Any, page: int, per_page: int
) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(stamp.desc(), tiebreak.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(rows), int(total)


def redact_body(raw: bytes) -> str | None:
    """A JSON request body with every secret-looking field replaced, or None.

    Bodies that are not JSON, or too long, are not kept at all: no secret can hide there.
    """
    if not raw or len(raw) > MAX_LOGGED_BODY:
        return None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return json.dumps(_redact(body), separators=(",", ":"))


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and any(s in k.lower() for s in _SECRET_FIELDS)
            else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One answered API write, as the HTTP adapter saw it."""

    request_id: str
    key_hash: str
    method: str
    path: str
    status: int
    origin: str
    client: str
    body: bytes
    duration_ms: int


def record_api_request(session: Session, request: ApiRequest, *, now: datetime) -> bool:
    """Store one API log; False when the key is unknown (a 401 belongs to no organization)."""
    key = session.execute(
        select(ApiKey.id, ApiKey.organization_id).where(ApiKey.key_hash == request.key_hash)
    ).first()
    if key is None:
        return False
    path = request.path.removeprefix("/api/v1") or "/"
    session.add(
        ApiLog(
            request_id=request.request_id,
            organization_id=key.organization_id,
            api_key_id=key.id,
            api_version="v1",
            client=request.client[:255],
            http_method=request.method.lower(),
            http_status=request.status,
            request_origin=request.origin[:255],
            request_path=path[:1024],
            request_body=redact_body(request.body),
            duration_ms=request.duration_ms,
            logged_at=now,
            created_at=now,
        )
    )
    return True
