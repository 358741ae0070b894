"""The customer portal: signed links and what one customer may see through them.

A link carries `organization id, customer id, expiry` and an HMAC-SHA256 of them keyed
with `Settings.signing_key`; it verifies against any of `Settings.verification_keys`, so
links signed before a secret rotation keep working while the old secret is listed.
Nothing is stored: a link cannot be widened to another customer (the MAC would not
match) and stops working when it expires. Every failure (bad
encoding, bad MAC, expired, customer deleted) is the same `NotFound("customer")`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound
from meterly.domain.periods import BillingPeriod, charges_period_containing, local_date
from meterly.services.accounts import customers as customer_service
from meterly.services.accounts import timezone_of
from meterly.services.metering import usage as usage_service
from meterly.store.daily_usage import hourly_usage
from meterly.store.tables import Customer, Invoice, Subscription
from meterly.store.tables_wallets import Wallet

LINK_LIFETIME = timedelta(hours=12)
_PURPOSE = "meterly:portal:v1"
VISIBLE_INVOICES = ("finalized", "voided")  # what the portal lists and explains


@dataclass(frozen=True, slots=True)
class PortalGrant:
    organization_id: str
    customer_id: str
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret_key: str, body: str) -> bytes:
    message = f"{_PURPOSE}:{body}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).digest()


def issue_token(
    secret_key: str, *, organization_id: str, customer_id: str, expires_at: datetime
) -> str:
    body = _b64(f"{organization_id}|{customer_id}|{int(expires_at.timestamp())}".encode())
    return f"{body}.{_b64(_mac(secret_key, body))}"


def read_token(secret_keys: tuple[str, ...], token: str, *, now: datetime) -> PortalGrant:
    """The grant a token carries, or NotFound for any bad, tampered or expired token."""
    try:
        body, signature = token.split(".", 1)
        given = _unb64(signature)
        if not any(hmac.compare_digest(given, _mac(key, body)) for key in secret_keys):
            raise ValueError("bad signature")
        org_id, customer_id, expiry = _unb64(body).decode().split("|")
        expires_at = datetime.fromtimestamp(int(expiry), tz=now.tzinfo)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise NotFound("customer") from None
    if expires_at <= now:
        raise NotFound("customer")
    return PortalGrant(organization_id=org_id, customer_id=customer_id, expires_at=expires_at)


def portal_url(
    session: Session,
    *,
    organization_id: str,
    external_customer_id: str,
    secret_key: str,
    public_url: str,
    now: datetime,
) -> str:
    """Lago's `portal_url`: a link valid for LINK_LIFETIME to one customer's portal."""
    customer = customer_service.find(
        session, organization_id=organization_id, external_id=external_customer_id
    )
    token = issue_token(
        secret_key,
        organization_id=organization_id,
        customer_id=customer.id,
        expires_at=now + LINK_LIFETIME,
    )
    return f"{public_url.rstrip('/')}/portal/{token}"


def open_portal(
    session: Session, *, secret_keys: tuple[str, ...], token: str, now: datetime
) -> Customer:
    grant = read_token(secret_keys, token, now=now)
    customer = session.get(Customer, grant.customer_id)
    if (
        customer is None
        or customer.organization_id != grant.organization_id
        or customer.deleted_at is not None
    ):
        raise NotFound("customer")
    return customer


# --- what the portal shows -----------------------------------------------------------


def active_subscriptions(session: Session, customer: Customer) -> list[Subscription]:
    return list(
        session.scalars(
            select(Subscription)
            .where(Subscription.customer_id == customer.id, Subscription.status == "active")
            .order_by(Subscription.created_at, Subscription.id)
        )
    )


@dataclass(frozen=True, slots=True)
class PortalUsage:
    subscription: Subscription
    usage: usage_service.SubscriptionUsage
    ratio: Decimal  # elapsed share of the period, for the projection


def subscription_usage(
    session: Session, *, customer: Customer, subscription: Subscription, now: datetime
) -> PortalUsage:
    """The same figures as Lago's current_usage/projected_usage for this subscription."""
    usage, _ = usage_service.current_usage(
        session,
        organization_id=customer.organization_id,
        external_customer_id=customer.external_id,
        external_subscription_id=subscription.external_id,
        at=now,
    )
    ratio = usage_service.projection_ratio(usage.window, at=now)
    return PortalUsage(subscription=subscription, usage=usage, ratio=ratio)


@dataclass(frozen=True, slots=True)
class DailySeries:
    """One metric's daily figure across the period and the previous one (by day index)."""

    code: str
    name: str
    measure: str  # "events" or the summed field name
    current: list[Decimal]
    previous: list[Decimal]
    current_days: list[date]


def _previous_window(session: Session, sub: Subscription, window: BillingPeriod) -> BillingPeriod:
    return charges_period_containing(
        window.start - timedelta(microseconds=1),
        interval=sub.plan.interval,
        billing_time=sub.billing_time,
        anchor=sub.subscription_at,
        timezone=timezone_of(session, sub),
        bill_charges_monthly=bool(sub.plan.bill_charges_monthly),
    )


def _days(window: BillingPeriod) -> list[date]:
    first, last = window.first_day, window.last_day
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _daily(
    session: Session,
    *,
    sub: Subscription,
    code: str,
    field_name: str | None,
    window: BillingPeriod,
    until: datetime,
) -> list[Decimal]:
    days = _days(window)
    index = {d: i for i, d in enumerate(days)}
    values = [Decimal(0)] * len(days)
    end = min(window.end, until)
    if end < window.start:
        return values
    for hour in hourly_usage(
        session.connection(),
        organization_id=sub.organization_id,
        external_subscription_id=sub.external_id,
        code=code,
        field_name=field_name,
        window_from=window.start,
        window_to=end,
    ):
        day = local_date(max(hour.hour, window.start), timezone=window.timezone)
        if day in index:
            values[index[day]] += hour.total if field_name else Decimal(hour.events_count)
    return values


def daily_usage(session: Session, *, usage: PortalUsage, now: datetime) -> list[DailySeries]:
    """Per metric of the plan: daily units (sums, or event counts) now and last period."""
    sub = usage.subscription
    window = usage.usage.window
    previous = _previous_window(session, sub, window)
    series: list[DailySeries] = []
    seen: set[str] = set()
    for charge in usage.usage.charges:
        metric = charge.charge.billable_metric
        if metric.code in seen:
            continue
        seen.add(metric.code)
        summed = metric.aggregation_type in ("sum_agg", "weighted_sum_agg") and metric.field_name
        field_name = metric.field_name if summed else None
        series.append(
            DailySeries(
                code=metric.code,
                name=metric.name,
                measure=field_name or "events",
                current=_daily(
                    session,
                    sub=sub,
                    code=metric.code,
                    field_name=field_name,
                    window=window,
                    until=now,
                ),
                previous=_daily(
                    session,
                    sub=sub,
                    code=metric.code,
                    field_name=field_name,
                    window=previous,
                    until=now,
                ),
                current_days=_days(window),
            )
        )
    return series


def invoices(session: Session, customer: Customer, *, limit: int = 24) -> list[Invoice]:
    """The customer's issued invoices (finalized or voided), newest first."""
    return list(
        session.scalars(
            select(Invoice)
            .where(
                Invoice.customer_id == customer.id,
                Invoice.organization_id == customer.organization_id,
                Invoice.status.in_(VISIBLE_INVOICES),
            )
            .order_by(Invoice.issuing_date.desc(), Invoice.created_at.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True, slots=True)
class WalletBalance:
    name: str
    currency: str
    balance_cents: int
    credits_balance: Decimal


def wallet_balances(session: Session, customer: Customer) -> list[WalletBalance]:
    """Prepaid credit of the customer's active wallets."""
    rows = session.scalars(
        select(Wallet).where(Wallet.customer_id == customer.id, Wallet.status == "active")
    )
    return [
        WalletBalance(
            name=r.name or r.code,
            currency=r.currency,
            balance_cents=int(r.balance_cents),
            credits_balance=Decimal(r.credits_balance),
        )
        for r in rows
    ]
