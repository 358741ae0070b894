"""Signed, expiring links to the hosted payment page (like the portal's, another purpose).

A link carries `organization id, customer id, invoice id (or empty: save a card), expiry`
and an HMAC-SHA256 keyed with the installation's secret; nothing is stored. A tampered,
foreign or expired link is the same NotFound.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from meterly.domain.errors import NotFound

LINK_LIFETIME = timedelta(hours=24)
_PURPOSE = "meterly:pay:v1"


@dataclass(frozen=True, slots=True)
class PayGrant:
    organization_id: str
    customer_id: str
    invoice_id: str | None
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret_key: str, body: str) -> bytes:
    return hmac.new(secret_key.encode(), f"{_PURPOSE}:{body}".encode(), hashlib.sha256).digest()


def issue(
    secret_key: str,
    *,
    organization_id: str,
    customer_id: str,
    invoice_id: str | None,
    now: datetime,
) -> str:
    expiry = int((now + LINK_LIFETIME).timestamp())
    body = _b64(f"{organization_id}|{customer_id}|{invoice_id or ''}|{expiry}".encode())
    return f"{body}.{_b64(_mac(secret_key, body))}"


def read(secret_keys: tuple[str, ...], token: str, *, now: datetime) -> PayGrant:
    try:
        body, signature = token.split(".", 1)
        given = _unb64(signature)
        if not any(hmac.compare_digest(given, _mac(key, body)) for key in secret_keys):
            raise ValueError("bad signature")
        org_id, customer_id, invoice_id, expiry = _unb64(body).decode().split("|")
        expires_at = datetime.fromtimestamp(int(expiry), tz=now.tzinfo)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise NotFound("payment_link") from None
    if expires_at <= now:
        raise NotFound("payment_link")
    return PayGrant(org_id, customer_id, invoice_id or None, expires_at)


def page_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/pay/{token}"
