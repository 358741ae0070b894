"""Outbox delivery: claim due webhooks, render, sign, POST, record, retry with backoff.

At least once: a due row is first *claimed* in its own short transaction (its
`next_attempt_at` moves one lease ahead, committed before any HTTP call), so a worker that
dies mid-send leaves the row to be picked up again when the lease runs out. Receivers
dedupe on `X-Lago-Unique-Key` (the webhook id). On PostgreSQL the claim uses
`FOR UPDATE SKIP LOCKED`, so several workers never send the same row at once; on SQLite
one worker runs.

Signature: `X-Lago-Signature = base64(HMAC-SHA256(organization.hmac_key, body))` over the
exact bytes sent, with `X-Lago-Signature-Algorithm: hmac`.

Retries (Lago's rule): after the n-th failed attempt the next one waits
`n**4 + 2` seconds plus up to 15 % jitter; after `max_attempts` (Lago's
LAGO_WEBHOOK_ATTEMPTS, default 3) the webhook is `failed`. Every attempt is appended to
`attempts` as `{at, http_status, error, duration_ms}`.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import importlib
import importlib.util
import inspect
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.config import Settings
from meterly.services.accounts import signing_keys
from meterly.services.common import Clock
from meterly.services.notifications import url_guard
from meterly.store.tables import (
    BillableMetricRow,
    Customer,
    Fee,
    Organization,
    Plan,
    Subscription,
    Tax,
    Webhook,
    WebhookEndpoint,
)
from meterly.store.uow import Database

log = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 3
DEFAULT_TIMEOUT_SECONDS = 30.0
JITTER_RATIO = 0.15
RESPONSE_LIMIT = 2000
USER_AGENT = "Meterly-Webhooks"

Renderer = Callable[[Session, str], dict[str, Any]]

# object_type -> a function (session, object_id) -> the object's wire body.
RENDERERS: dict[str, Renderer] = {}
_builtins_loaded = False
# The delivering worker's clock, for renderers whose object depends on "now"
# (a subscription's current billing period).
RENDER_CLOCK: contextvars.ContextVar[Clock | None] = contextvars.ContextVar(
    "webhook_render_clock", default=None
)
_registry_lock = threading.Lock()


def register_renderer(object_type: str, renderer: Renderer) -> None:
    """Let a module render its objects for webhooks (it wins over the built-in guess)."""
    RENDERERS[object_type] = renderer


def renderer_for(object_type: str) -> Renderer | None:
    _load_builtin_renderers()
    return RENDERERS.get(object_type)


# --- delivery --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """A due webhook leased to this worker, with everything needed to send it."""

    webhook_id: str
    url: str
    body: bytes
    hmac_key: str
    lease_until: datetime
    # RS256 key when the endpoint asked for JWT signatures, else None (HMAC).
    jwt_private_pem: str | None = None
    # The organization allows private addresses (services/notifications/url_guard.py).
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    claimed: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    webhook_ids: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Outcome:
    http_status: int | None
    error: str | None
    response: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


def attempts_from_env() -> int:
    """METERLY_WEBHOOK_ATTEMPTS (or Lago's LAGO_WEBHOOK_ATTEMPTS), default 3."""
    raw = os.environ.get("METERLY_WEBHOOK_ATTEMPTS") or os.environ.get("LAGO_WEBHOOK_ATTEMPTS")
    try:
        return max(int(raw), 1) if raw else DEFAULT_ATTEMPTS
    except ValueError:
        return DEFAULT_ATTEMPTS


def deliver_due(
    database: Database,
    *,
    clock: Clock,
    client: httpx.Client | None = None,
    limit: int = 100,
    max_attempts: int = DEFAULT_ATTEMPTS,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Send every webhook due now (up to `limit`); one pass, returns what happened."""
    claims = claim_due(
        database,
        clock=clock,
        limit=limit,
        lease=lease_for(timeout),
        max_attempts=max_attempts,
        rng=rng,
    )
    if not claims:
        return DeliveryReport()
    own_client = client is None
    http = client or httpx.Client(timeout=timeout)
    counts = {"succeeded": 0, "retrying": 0, "failed": 0}
    try:
        for claim in claims:
            outcome = send(http, claim, timeout=timeout)
            status = record(
                database,
                claim=claim,
                outcome=outcome,
                clock=clock,
                max_attempts=max_attempts,
                rng=rng,
            )
            if status in counts:
                counts[status] += 1
    finally:
        if own_client:
            http.close()
    return DeliveryReport(
        claimed=len(claims),
        webhook_ids=tuple(c.webhook_id for c in claims),
        **counts,
    )


def lease_for(timeout: float) -> timedelta:
    """How long a claim holds a row: the HTTP timeout twice over."""
    return timedelta(seconds=2 * timeout)


def claim_due(
    database: Database,
    *,
    clock: Clock,
    limit: int = 100,
    lease: timedelta | None = None,
    max_attempts: int = DEFAULT_ATTEMPTS,
    rng: random.Random | None = None,
) -> list[Claim]:
    """Lease the due rows to this worker and render their bodies; commits before returning.

    A row whose body cannot be rendered counts as a failed attempt (and is retried).
    """
    now = clock.now()
    lease_until = now + (lease if lease is not None else lease_for(DEFAULT_TIMEOUT_SECONDS))
    claims: list[Claim] = []
    with database.unit_of_work() as session:
        query = (
            select(Webhook)
            .where(Webhook.status.in_(("pending", "retrying")), Webhook.next_attempt_at <= now)
            .order_by(Webhook.next_attempt_at, Webhook.id)
            .limit(limit)
        )
        if database.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for row in session.scalars(query).all():
            row.next_attempt_at = lease_until
            row.updated_at = now
            endpoint = session.get(WebhookEndpoint, row.webhook_endpoint_id)
            org = session.get(Organization, row.organization_id)
            if endpoint is None or org is None:
                row.status = "failed"
                row.next_attempt_at = None
                continue
            token = RENDER_CLOCK.set(clock)
            try:
                with session.begin_nested():
                    body = render(session, row)
            except Exception as exc:
                log.exception("webhook %s: rendering failed", row.id)
                failure = Outcome(None, f"render failed: {type(exc).__name__}: {exc}", None, 0)
                _apply(row, failure, now=now, max_attempts=max_attempts, rng=rng)
                continue
            finally:
                RENDER_CLOCK.reset(token)
            claims.append(
                Claim(
                    webhook_id=row.id,
                    url=endpoint.webhook_url,
                    body=body,
                    hmac_key=org.hmac_key,
                    lease_until=lease_until,
                    jwt_private_pem=signing_keys.webhook_private_pem(session, clock=clock)
                    if endpoint.signature_algo == "jwt"
                    else None,
                    allow_private=org.allow_private_webhook_urls,
                )
            )
    return claims


def render(session: Session, row: Webhook) -> bytes:
    """The message body: `{webhook_type, object_type, organization_id, <object_type>: {…}}`."""
    obj = dict(row.payload) if row.payload else _render_object(session, row)
    message = {
        "webhook_type": row.webhook_type,
        "object_type": row.object_type,
        "organization_id": row.organization_id,
        row.object_type: obj,
    }
    return orjson.dumps(message, default=_json_default)


def _render_object(session: Session, row: Webhook) -> dict[str, Any]:
    renderer = renderer_for(row.object_type)
    if renderer is not None and row.object_id is not None:
        try:
            return renderer(session, row.object_id)
        except LookupError:
            log.warning("webhook %s: %s %s is gone", row.id, row.object_type, row.object_id)
    elif renderer is None:
        log.warning("webhook %s: no renderer for %s", row.id, row.object_type)
    return {"lago_id": row.object_id}


def sign(body: bytes, key: str) -> str:
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def headers_for(claim: Claim) -> dict[str, str]:
    if claim.jwt_private_pem is not None:
        issuer = Settings.from_env().public_url
        signature = signing_keys.sign_webhook(
            claim.body, private_pem=claim.jwt_private_pem, issuer=issuer
        )
        algorithm = "jwt"
    else:
        signature, algorithm = sign(claim.body, claim.hmac_key), "hmac"
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Lago-Signature": signature,
        "X-Lago-Signature-Algorithm": algorithm,
        "X-Lago-Unique-Key": claim.webhook_id,
    }


def send(client: httpx.Client, claim: Claim, *, timeout: float) -> Outcome:
    started = time.monotonic()
    try:
        # Resolved again now: the name may point somewhere else than when it was saved.
        url_guard.check_delivery(claim.url, allow_private=claim.allow_private)
    except url_guard.PrivateAddress as exc:
        return Outcome(None, f"refused: {exc}"[:RESPONSE_LIMIT], None, _ms(started))
    try:
        response = client.post(
            claim.url, content=claim.body, headers=headers_for(claim), timeout=timeout
        )
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:RESPONSE_LIMIT], None, _ms(started))
    text = response.text[:RESPONSE_LIMIT]
    error = None if response.is_success else f"HTTP {response.status_code}"
    return Outcome(response.status_code, error, text, _ms(started))


def record(
    database: Database,
    *,
    claim: Claim,
    outcome: Outcome,
    clock: Clock,
    max_attempts: int = DEFAULT_ATTEMPTS,
    rng: random.Random | None = None,
) -> str | None:
    """Write one attempt's result; the row's new status (None when the row is gone)."""
    now = clock.now()
    with database.unit_of_work() as session:
        query = select(Webhook).where(Webhook.id == claim.webhook_id)
        if database.dialect == "postgresql":
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:  # its endpoint was deleted meanwhile
            return None
        still_ours = row.next_attempt_at == claim.lease_until
        return _apply(row, outcome, now=now, max_attempts=max_attempts, rng=rng, owned=still_ours)


def _apply(
    row: Webhook,
    outcome: Outcome,
    *,
    now: datetime,
    max_attempts: int,
    rng: random.Random | None,
    owned: bool = True,
) -> str:
    """Append the attempt to the history and move the row to its next status."""
    attempt = {
        "at": now.isoformat(),
        "http_status": outcome.http_status,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }
    row.attempts = [*(row.attempts or []), attempt]
    row.http_status = outcome.http_status
    row.response = outcome.response if outcome.response is not None else outcome.error
    row.last_attempt_at = now
    row.updated_at = now
    if outcome.ok:
        # Delivered. Should another worker hold a newer lease, its copy is a duplicate
        # the receiver drops by X-Lago-Unique-Key.
        row.status = "succeeded"
        row.next_attempt_at = None
    elif owned and row.status in ("pending", "retrying"):
        row.retries += 1
        if row.retries >= max_attempts:
            row.status = "failed"
            row.next_attempt_at = None
        else:
            row.status = "retrying"
            row.next_attempt_at = now + backoff(row.retries, rng=rng)
    return row.status


def backoff(retries: int, *, rng: random.Random | None = None) -> timedelta:
    """Lago's delay after the n-th failure: n**4 + 2 seconds, plus up to 15 % jitter."""
    base = float(retries**4 + 2)
    jitter = (rng or random).random() * JITTER_RATIO * base
    return timedelta(seconds=base + jitter)


def run_forever(
    database: Database,
    *,
    clock: Clock,
    stop: threading.Event,
    interval: float = 1.0,
    client: httpx.Client | None = None,
    max_attempts: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    limit: int = 100,
) -> None:
    """The worker loop: deliver until `stop` is set; sleeps `interval` when idle."""
    attempts = max_attempts if max_attempts is not None else attempts_from_env()
    own_client = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        while not stop.is_set():
            try:
                report = deliver_due(
                    database,
                    clock=clock,
                    client=http,
                    limit=limit,
                    max_attempts=attempts,
                    timeout=timeout,
                )
            except Exception:
                log.exception("webhook delivery pass failed")
                report = DeliveryReport()
            if report.claimed < limit:
                stop.wait(interval)
    finally:
        if own_client:
            http.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# --- renderers -------------------------------------------------------------------------


def _row(session: Session, table: type[Any], object_id: str) -> Any:
    row = session.get(table, object_id)
    if row is None:
        raise LookupError(object_id)
    return row


def _billable_metric(session: Session, object_id: str) -> dict[str, Any]:
    from meterly.api.schemas.billable_metrics import billable_metric

    return billable_metric(_row(session, BillableMetricRow, object_id))


def _tax(session: Session, object_id: str) -> dict[str, Any]:
    from meterly.api.schemas.taxes import tax

    return tax(_row(session, Tax, object_id))


def _plan(session: Session, object_id: str) -> dict[str, Any]:
    from meterly.api.schemas.plans import plan_payload

    return plan_payload(session, _row(session, Plan, object_id))


def _customer(session: Session, object_id: str) -> dict[str, Any]:
    from meterly.api.schemas.customers import customer

    row = _row(session, Customer, object_id)
    return customer(row, _row(session, Organization, row.organization_id))


def _subscription(session: Session, object_id: str) -> dict[str, Any]:
    """The API's subscription object (its current period depends on the worker's clock)."""
    from meterly.api.routes.subscriptions import render as render_subscription

    clock = RENDER_CLOCK.get()
    if clock is None:
        raise LookupError("a subscription renders only inside a delivery")
    return render_subscription(session, _row(session, Subscription, object_id), clock)


def _fee(session: Session, object_id: str) -> dict[str, Any]:
    from meterly.api.schemas.fees import fee

    return fee(_row(session, Fee, object_id), with_taxes=True)


# object_type -> (schemas module, ORM class name in store.tables) for the modules being
# written alongside: used when they exist and expose `<object_type>_payload(session, row)`
# or `<object_type>(session, row)`.
_GUESSED: dict[str, tuple[str, str]] = {
    "invoice": ("meterly.api.schemas.invoices", "Invoice"),
    "credit_note": ("meterly.api.schemas.credit_notes", "CreditNote"),
    "wallet": ("meterly.api.schemas.wallets", "Wallet"),
    "wallet_transaction": ("meterly.api.schemas.wallets", "WalletTransaction"),
    "payment": ("meterly.api.schemas.payments", "Payment"),
    "payment_receipt": ("meterly.api.schemas.payments", "PaymentReceipt"),
    "payment_request": ("meterly.api.schemas.payment_requests", "PaymentRequest"),
}


def _load_builtin_renderers() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _registry_lock:
        if _builtins_loaded:
            return
        builtin: dict[str, Renderer] = {
            "billable_metric": _billable_metric,
            "tax": _tax,
            "plan": _plan,
            "customer": _customer,
            "subscription": _subscription,
        }
        if importlib.util.find_spec("meterly.api.schemas.fees") is not None:
            builtin["fee"] = _fee
        for object_type, (module_name, table_name) in _GUESSED.items():
            guessed = _guess(object_type, module_name, table_name)
            if guessed is not None:
                builtin[object_type] = guessed
        for object_type, renderer in builtin.items():
            RENDERERS.setdefault(object_type, renderer)
        _builtins_loaded = True


def _guess(object_type: str, module_name: str, table_name: str) -> Renderer | None:
    try:
        if importlib.util.find_spec(module_name) is None:
            return None
        module = importlib.import_module(module_name)
        tables = importlib.import_module("meterly.store.tables")
    except Exception:  # a module half-written by someone else must not stop delivery
        log.exception("webhook renderer for %s unavailable", object_type)
        return None
    table = getattr(tables, table_name, None)
    if table is None:
        return None
    for name in (f"{object_type}_payload", object_type):
        fn = getattr(module, name, None)
        if callable(fn) and _takes_session_first(fn):
            serializer: Callable[[Session, Any], dict[str, Any]] = fn

            def render_object(
                session: Session,
                object_id: str,
                serializer: Callable[[Session, Any], dict[str, Any]] = serializer,
                table: type[Any] = table,
            ) -> dict[str, Any]:
                return serializer(session, _row(session, table, object_id))

            return render_object
    return None


def _takes_session_first(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    required = [p for p in params if p.default is inspect.Parameter.empty]
    return len(params) >= 2 and params[0].name == "session" and len(required) <= 2
