"""Dashboard sign-in: an organization API key, then a signed, HttpOnly session cookie.

The cookie holds `api key id | organization id | expiry` and an HMAC-SHA256 of them
keyed with `Settings.signing_key` (any of `Settings.verification_keys` verifies it, so a
rotation does not sign everyone out); the secret itself is never stored. Every request checks
that the key still exists and is not revoked, so revoking a key signs its sessions out.
Forms carry a CSRF token derived from the cookie.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from fastapi import Request
from sqlalchemy import select

from meterly.api import limits
from meterly.api.http import clock, database, settings
from meterly.services.accounts import authenticate, hash_secret
from meterly.store.tables import ApiKey, Organization

COOKIE = "meterly_session"
SESSION_LIFETIME = timedelta(hours=12)
_PURPOSE = "meterly:dashboard-session:v1"


@dataclass(frozen=True, slots=True)
class Operator:
    organization_id: str
    organization_name: str
    api_key_id: str
    csrf: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret_key: str, purpose: str, body: str) -> bytes:
    return hmac.new(secret_key.encode(), f"{purpose}:{body}".encode(), hashlib.sha256).digest()


def sign_in(request: Request, secret: str) -> str | None:
    """The session cookie value for a valid API key, or None."""
    with database(request).sessions() as session:
        org_id = authenticate(session, secret.strip())
        if org_id is None:
            return None
        key_id = session.scalar(
            select(ApiKey.id).where(ApiKey.key_hash == hash_secret(secret.strip()))
        )
    if key_id is None:
        return None
    expires = clock(request).now() + SESSION_LIFETIME
    body = _b64(f"{key_id}|{org_id}|{int(expires.timestamp())}".encode())
    return f"{body}.{_b64(_mac(settings(request).signing_key, _PURPOSE, body))}"


def operator(request: Request) -> Operator | None:
    """The signed-in operator of this request, or None."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    config = settings(request)
    try:
        body, signature = cookie.split(".", 1)
        given = _unb64(signature)
        if not any(
            hmac.compare_digest(given, _mac(key, _PURPOSE, body))
            for key in config.verification_keys
        ):
            return None
        key_id, org_id, expiry = _unb64(body).decode().split("|")
        expires = int(expiry)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    now: datetime = clock(request).now()
    if expires <= now.timestamp():
        return None
    with database(request).sessions() as session:
        key = session.get(ApiKey, key_id)
        if key is None or key.revoked_at is not None or key.organization_id != org_id:
            return None
        org = session.get(Organization, org_id)
        if org is None:
            return None
        name = org.name
    csrf = _b64(_mac(config.signing_key, "meterly:csrf", cookie))[:32]
    return Operator(organization_id=org_id, organization_name=name, api_key_id=key_id, csrf=csrf)


async def form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (last value of each field)."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    data = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    # The API's bounds (api/limits.py): no NUL reaches the database, no 20 MB name.
    limits.check_body({"form": data})
    return data


def csrf_ok(who: Operator, data: dict[str, str]) -> bool:
    return hmac.compare_digest(who.csrf, data.get("csrf", ""))
