"""Dashboard sign-in, sessions and roles, enforced on the server for every page and form.

Two ways in: a person's e-mail and password (services/operators: argon2, lockout), or an
organization API key, which signs in as an admin (how the first admin gets in before any
account exists). Either gives a signed, HttpOnly session cookie:

    u|user id|organization id|session epoch|expiry    (a person)
    k|api key id|organization id|expiry                (an API key)

with an HMAC-SHA256 of it keyed with `Settings.signing_key` (any of
`Settings.verification_keys` verifies it, so a rotation signs nobody out); no secret is
in it. Every request re-reads the user or the key: a removed user, a changed role or a
revoked key take effect at once, and a user's "sign out everywhere" bumps the epoch the
cookie must carry. Forms carry a CSRF token derived from the cookie.

Roles: `authorize` is a dependency of every dashboard router (`section_router`). It finds
the permission the matched route needs (`required_permission`): an endpoint may name it
(`@requires("invoices")`, `@public`); otherwise reading (GET) needs `read`, and a write
needs the finance section its path names (invoices, credit notes, payments, wallets,
coupons) or else `admin`. So a page added later is guarded without a line, and a new
write is admin-only until someone decides otherwise.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from meterly.api import limits
from meterly.api.http import clock, database, settings
from meterly.services import activity, operators
from meterly.services.accounts import authenticate, hash_secret
from meterly.store.tables import ApiKey, Organization, User
from meterly.web.templating import render

COOKIE = "meterly_session"
SESSION_LIFETIME = timedelta(hours=12)
_PURPOSE = "meterly:dashboard-session:v2"
PUBLIC = "public"
_PERMISSION_ATTR = "meterly_permission"
# A path segment of a write -> the permission it needs (anything else: admin).
SECTION_PERMISSIONS = {
    "invoices": "invoices",
    "one_off_invoices": "invoices",
    "credit_notes": "credit_notes",
    "credit-notes": "credit_notes",
    "payments": "payments",
    "payment_requests": "payments",
    "wallets": "wallets",
    "coupons": "coupons",
    "applied_coupons": "coupons",
}

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Operator:
    organization_id: str
    organization_name: str
    csrf: str
    role: str = operators.ADMIN
    api_key_id: str | None = None
    user_id: str | None = None
    email: str | None = None

    def can(self, permission: str) -> bool:
        return operators.allows(self.role, permission)

    @property
    def label(self) -> str:
        return self.email or "API key"


class SignInRequired(Exception):
    def __init__(self, target: str) -> None:
        self.target = target


class PermissionDenied(Exception):
    def __init__(self, permission: str) -> None:
        self.permission = permission


def requires(permission: str) -> Callable[[F], F]:
    """Name the permission an endpoint needs (instead of the one its method and path imply)."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _PERMISSION_ATTR, permission)
        return endpoint

    return mark


def public(endpoint: F) -> F:
    """An endpoint anyone may reach (sign-in, accepting an invitation)."""
    setattr(endpoint, _PERMISSION_ATTR, PUBLIC)
    return endpoint


def required_permission(method: str, path: str, endpoint: Any) -> str:
    named = getattr(endpoint, _PERMISSION_ATTR, None)
    if isinstance(named, str):
        return named
    if method in ("GET", "HEAD", "OPTIONS"):
        return operators.READ
    for segment in reversed(path.strip("/").split("/")):
        if segment in SECTION_PERMISSIONS:
            return SECTION_PERMISSIONS[segment]
    return operators.ADMIN


def authorize(request: Request) -> None:
    """Dependency of every dashboard route: signed in, and allowed, or no further."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    permission = required_permission(request.method, path, getattr(route, "endpoint", None))
    if permission == PUBLIC:
        return
    who = operator(request)
    if who is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    if not who.can(permission):
        raise PermissionDenied(permission)


def install_handlers(app: FastAPI) -> None:
    async def _sign_in(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        query = urlencode({"next": exc.target})
        return RedirectResponse(f"/dashboard/login?{query}", status_code=303)

    async def _denied(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PermissionDenied)
        return render(
            "dashboard/forbidden.html",
            status_code=403,
            who=operator(request),
            path="",
            permission=exc.permission,
        )

    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(PermissionDenied, _denied)
    # Starlette copies the handlers into its middleware stack when it first serves; one
    # built already (web mounted on a running app, as tests do) is rebuilt on next request.
    app.middleware_stack = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret_key: str, purpose: str, body: str) -> bytes:
    return hmac.new(secret_key.encode(), f"{purpose}:{body}".encode(), hashlib.sha256).digest()


def _cookie(request: Request, fields: list[str]) -> str:
    expires = clock(request).now() + SESSION_LIFETIME
    body = _b64("|".join([*fields, str(int(expires.timestamp()))]).encode())
    return f"{body}.{_b64(_mac(settings(request).signing_key, _PURPOSE, body))}"


def sign_in(request: Request, secret: str) -> str | None:
    """The session cookie value for a valid API key (an admin session), or None."""
    with database(request).sessions() as session:
        org_id = authenticate(session, secret.strip())
        if org_id is None:
            return None
        key_id = session.scalar(
            select(ApiKey.id).where(ApiKey.key_hash == hash_secret(secret.strip()))
        )
    if key_id is None:
        return None
    return _cookie(request, ["k", key_id, org_id])


def user_cookie(request: Request, user: User) -> str:
    """The session cookie value of a person who just proved who they are."""
    return _cookie(request, ["u", user.id, user.organization_id, str(user.session_epoch)])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def operator(request: Request) -> Operator | None:
    """The signed-in operator of this request, or None (read once per request)."""
    if hasattr(request.state, "operator"):
        found: Operator | None = request.state.operator
        return found
    who = _read_session(request)
    request.state.operator = who
    if who is not None:
        # Changes made by this request are logged as this person's (services/activity).
        request.state.actor = activity.dashboard_actor(
            user_id=who.user_id, email=who.email, api_key_id=who.api_key_id
        )
    return who


def _read_session(request: Request) -> Operator | None:
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
        fields = _unb64(body).decode().split("|")
        expires = int(fields[-1])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if expires <= clock(request).now().timestamp():
        return None
    csrf = _b64(_mac(config.signing_key, "meterly:csrf", cookie))[:32]
    with database(request).sessions() as session:
        if fields[0] == "k" and len(fields) == 4:
            key = session.get(ApiKey, fields[1])
            if key is None or key.revoked_at is not None or key.organization_id != fields[2]:
                return None
            org = session.get(Organization, fields[2])
            if org is None:
                return None
            return Operator(
                organization_id=org.id, organization_name=org.name, csrf=csrf, api_key_id=key.id
            )
        if fields[0] == "u" and len(fields) == 5:
            user = session.get(User, fields[1])
            if (
                user is None
                or user.organization_id != fields[2]
                or str(user.session_epoch) != fields[3]
            ):
                return None
            org = session.get(Organization, user.organization_id)
            if org is None:
                return None
            return Operator(
                organization_id=org.id,
                organization_name=org.name,
                csrf=csrf,
                role=user.role,
                user_id=user.id,
                email=user.email,
            )
    return None


async def form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (last value of each field)."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    data = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    # The API's bounds (api/limits.py): no NUL reaches the database, no 20 MB name.
    limits.check_body({"form": data})
    return data


def csrf_ok(who: Operator, data: dict[str, str]) -> bool:
    return hmac.compare_digest(who.csrf, data.get("csrf", ""))
