"""Security headers of the HTML pages: the dashboard, the customer portal, the payment page.

`SecurityHeaders` is an ASGI middleware that adds, to every answer under `PAGE_PREFIXES`:

- `Content-Security-Policy`: scripts, styles, images and requests from this origin only;
  no plugins, no `<base>` rewriting, forms post only here, and `frame-ancestors 'none'`
  (with `X-Frame-Options: DENY` for older browsers) so no site can frame a page and trick
  an operator into clicking Void. Inline styles stay allowed (templates use `style=`),
  inline scripts do not: every script is a file under /static.
- `Referrer-Policy: no-referrer`: portal and payment links carry their signed token in
  the path, which must not leak to Stripe.js or to a link's target.
- `X-Content-Type-Options: nosniff`.
- `Strict-Transport-Security`, only when the request came over HTTPS: the ASGI scheme
  (uvicorn already rewrites it from `X-Forwarded-Proto` for its `FORWARDED_ALLOW_IPS`,
  127.0.0.1 by default), or `X-Forwarded-Proto: https` from an address listed in
  `METERLY_TRUSTED_PROXIES` (comma separated). A header from anyone else is ignored: over
  plain HTTP, HSTS would pin a browser to an HTTPS site that may not exist.

The payment page loads the provider's script and talks to its API, from an origin that
depends on the organization's Stripe connection (its `api_base`, a test server's, or
Stripe's own): the page sets its own policy with `allow_payment_provider`, and the
middleware keeps a policy a page already set.

The API under /api, the provider webhooks and /docs (Swagger UI loads from a CDN) are
left alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TRUSTED_PROXIES_VARIABLE = "METERLY_TRUSTED_PROXIES"
PAGE_PREFIXES = ("/dashboard", "/portal", "/pay", "/static")
HSTS = "max-age=31536000"
# Real Stripe: Stripe.js from js.stripe.com, its calls to api.stripe.com, and the frames
# it opens for card fields and 3-D Secure (js.stripe.com, hooks.stripe.com).
STRIPE_JS_ORIGIN = "https://js.stripe.com"
# An origin that can be written into a policy as is: no spaces, quotes or semicolons.
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")


@dataclass(frozen=True, slots=True)
class ProviderSources:
    """Where a payment provider's script comes from, what it calls and what it frames."""

    script: tuple[str, ...] = ()
    connect: tuple[str, ...] = ()
    frame: tuple[str, ...] = ()


STRIPE = ProviderSources(
    script=(STRIPE_JS_ORIGIN,),
    connect=("https://api.stripe.com",),
    frame=(STRIPE_JS_ORIGIN, "https://hooks.stripe.com"),
)


def content_security_policy(provider: ProviderSources = ProviderSources()) -> str:
    def sources(*values: str) -> str:
        return " ".join(values)

    directives = {
        "default-src": sources("'self'"),
        "script-src": sources("'self'", *provider.script),
        "style-src": sources("'self'", "'unsafe-inline'"),
        "img-src": sources("'self'", "data:"),
        "connect-src": sources("'self'", *provider.connect),
        "frame-src": sources(*provider.frame) if provider.frame else "'none'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def page_headers(*, https: bool) -> dict[str, str]:
    headers = {
        "content-security-policy": content_security_policy(),
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
    }
    if https:
        headers["strict-transport-security"] = HSTS
    return headers


def provider_sources(script_url: str) -> ProviderSources:
    """The sources a payment page needs for the provider script at `script_url`.

    Stripe.js itself needs Stripe's hosts; a stand-in (a connection's `api_base`, as the
    tests' localstripe) serves the script and answers its calls from that one origin.
    """
    parts = urlsplit(script_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin == STRIPE_JS_ORIGIN:
        return STRIPE
    if not _ORIGIN.match(origin):
        return ProviderSources()  # not an origin a policy can name: the script is refused
    return ProviderSources(script=(origin,), connect=(origin,), frame=(origin,))


def allow_payment_provider(response: Response, script_url: str) -> Response:
    """Give the payment page a policy that lets the provider's script work."""
    policy = content_security_policy(provider_sources(script_url))
    response.headers["content-security-policy"] = policy
    return response


def trusted_proxies_from_env() -> frozenset[str]:
    raw = os.environ.get(TRUSTED_PROXIES_VARIABLE, "")
    return frozenset(address.strip() for address in raw.split(",") if address.strip())


def served_over_https(scope: Scope, trusted_proxies: frozenset[str]) -> bool:
    if scope.get("scheme") == "https":
        return True
    client = scope.get("client")
    if not client or client[0] not in trusted_proxies:
        return False
    forwarded = Headers(scope=scope).get("x-forwarded-proto", "")
    # A chain of proxies lists one scheme each; the first is the browser's.
    return forwarded.split(",")[0].strip().lower() == "https"


def guards(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PAGE_PREFIXES)


class SecurityHeaders:
    """ASGI middleware: the headers above on every page answer (see the module notes)."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not guards(scope["path"]):
            await self.app(scope, receive, send)
            return
        extra = page_headers(https=served_over_https(scope, self.trusted_proxies))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    if name not in headers:  # a page's own (wider) policy wins
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    """Add the middleware to an app, even one that has already answered requests.

    `install_web` may be called on an API app that is already serving (the tests mount
    the web pages on their API client's app): Starlette builds its middleware stack on the
    first request and refuses `add_middleware` after that, so the stack is rebuilt instead.
    """
    app.user_middleware.insert(
        0, Middleware(SecurityHeaders, trusted_proxies=trusted_proxies_from_env())
    )
    app.middleware_stack = None
