"""Organizations and their API keys: the tenancy every other query is scoped to."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.money import is_currency
from meterly.services.common import Clock, new_id
from meterly.store.tables import ApiKey, Organization


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """An API key as handed out once: the secret is never stored, only its hash."""

    id: str
    organization_id: str
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_organization(
    session: Session,
    *,
    name: str,
    clock: Clock,
    api_key: str | None = None,
    default_currency: str = "USD",
    timezone: str = "UTC",
) -> tuple[Organization, IssuedKey]:
    if not name.strip():
        raise ValidationFailed.field("name", "value_is_mandatory")
    now = clock.now()
    org = Organization(
        id=new_id(),
        name=name,
        default_currency=default_currency,
        timezone=timezone,
        net_payment_term=0,
        invoice_grace_period=0,
        document_numbering="per_customer",
        document_number_prefix=_prefix(name),
        finalize_zero_amount_invoice=True,
        hmac_key=secrets.token_hex(24),
        profile={},
        billing_configuration={},
        created_at=now,
        updated_at=now,
    )
    session.add(org)
    session.flush()
    key = create_api_key(session, organization_id=org.id, clock=clock, secret=api_key)
    return org, key


def _prefix(name: str) -> str:
    letters = "".join(c for c in name.upper() if c.isalnum())[:3] or "MTR"
    return f"{letters}-{secrets.token_hex(2).upper()}"


def create_api_key(
    session: Session,
    *,
    organization_id: str,
    clock: Clock,
    secret: str | None = None,
    name: str | None = None,
) -> IssuedKey:
    if secret is not None and len(secret) < 16:
        raise ValidationFailed.field("api_key", "value_is_too_short")
    secret = secret or f"mtr_{secrets.token_urlsafe(32)}"
    hashed = hash_secret(secret)
    if session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hashed)) is not None:
        raise ValidationFailed.field("api_key", "value_already_exist")
    key = ApiKey(
        id=new_id(),
        organization_id=organization_id,
        key_hash=hashed,
        key_prefix=secret[:8],
        name=name,
        created_at=clock.now(),
    )
    session.add(key)
    session.flush()
    return IssuedKey(id=key.id, organization_id=organization_id, secret=secret)


def list_api_keys(session: Session, *, organization_id: str) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.organization_id == organization_id)
    return list(session.scalars(query.order_by(ApiKey.created_at)))


def revoke_api_key(session: Session, *, key_id: str, clock: Clock) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("api_key")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
    _KEY_CACHE.clear()
    return key


def find_organization(session: Session, organization_id: str) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("organization")
    return org


def list_organizations(session: Session) -> list[Organization]:
    return list(session.scalars(select(Organization).order_by(Organization.created_at)))


class _KeyCache:
    """Hash -> organization id for a few seconds: ingestion must not pay a query per request.

    A revoked key stops working within TTL seconds on other processes, at once on this one.
    """

    TTL = 10.0

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, hashed: str) -> str | None:
        entry = self._entries.get(hashed)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, hashed: str, organization_id: str) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[hashed] = (organization_id, time.monotonic() + self.TTL)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_KEY_CACHE = _KeyCache()


def cached_organization(secret: str) -> str | None:
    """The organization of a key seen in the last seconds, without touching the database."""
    return _KEY_CACHE.get(hash_secret(secret))


def authenticate(session: Session, secret: str) -> str | None:
    """The organization id a secret belongs to, or None for an unknown or revoked key."""
    hashed = hash_secret(secret)
    cached = _KEY_CACHE.get(hashed)
    if cached is not None:
        return cached
    organization_id = session.scalar(
        select(ApiKey.organization_id).where(ApiKey.key_hash == hashed, ApiKey.revoked_at.is_(None))
    )
    if organization_id is not None:
        _KEY_CACHE.put(hashed, organization_id)
    return organization_id


ORGANIZATION_PROFILE_FIELDS = (
    "country",
    "address_line1",
    "address_line2",
    "state",
    "zipcode",
    "email",
    "city",
    "legal_name",
    "legal_number",
    "tax_identification_number",
)


def update_organization(
    session: Session, org: Organization, *, changes: dict[str, object], clock: Clock
) -> Organization:
    """Apply Lago's organization settings. Everything Lago gates behind a licence is open."""
    errors: dict[str, list[str]] = {}
    if "default_currency" in changes and not is_currency(changes["default_currency"]):
        errors["default_currency"] = ["value_is_invalid"]
    if "timezone" in changes and not _is_timezone(changes["timezone"]):
        errors["timezone"] = ["invalid_timezone"]
    term = changes.get("net_payment_term")
    if term is not None and (not isinstance(term, int) or term < 0):
        errors["net_payment_term"] = ["value_is_invalid"]
    numbering = changes.get("document_numbering")
    if numbering is not None and numbering not in ("per_customer", "per_organization"):
        errors["document_numbering"] = ["value_is_invalid"]
    logo = changes.get("logo_url")
    if logo is not None and not _is_logo_url(logo):
        errors["logo_url"] = ["url_is_invalid"]
    prefix = changes.get("document_number_prefix")
    if prefix is not None and not (isinstance(prefix, str) and 1 <= len(prefix) <= 10):
        errors["document_number_prefix"] = ["value_is_invalid"]
    if errors:
        raise ValidationFailed(errors)
    for field_name in (
        "name",
        "default_currency",
        "timezone",
        "net_payment_term",
        "document_numbering",
        "document_number_prefix",
        "webhook_url",
    ):
        if changes.get(field_name) is not None:
            setattr(org, field_name, changes[field_name])
    if "finalize_zero_amount_invoice" in changes:
        org.finalize_zero_amount_invoice = bool(changes["finalize_zero_amount_invoice"])
    if changes.get("accept_late_events") is not None:
        org.accept_late_events = bool(changes["accept_late_events"])
    profile = dict(org.profile)
    profile.update({k: changes[k] for k in ORGANIZATION_PROFILE_FIELDS if k in changes})
    if "logo_url" in changes:
        # The seller's logo on documents (invoicing.snapshot reads it from the profile).
        profile["logo_url"] = changes["logo_url"] or None
    org.profile = profile
    billing = changes.get("billing_configuration")
    if isinstance(billing, dict):
        merged = dict(org.billing_configuration)
        merged.update(billing)
        org.billing_configuration = merged
        grace = billing.get("invoice_grace_period")
        if isinstance(grace, int) and grace >= 0:
            org.invoice_grace_period = grace
    org.updated_at = clock.now()
    return org


def _is_logo_url(value: object) -> bool:
    """An absolute http(s) address of an image, or empty (no logo)."""
    if not isinstance(value, str):
        return False
    return value == "" or (
        value.startswith(("https://", "http://")) and len(value) <= 1024 and " " not in value
    )


def _is_timezone(value: object) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str) or not value:
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
