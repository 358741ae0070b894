"""The organization's webhook HMAC key, for admins: what a receiver checks signatures with.

Webhook endpoints that sign with `hmac` (Lago's default) send `X-Lago-Signature`, the
Base64 HMAC-SHA256 of the exact body keyed with this key. Receivers need the key to verify
it, and Lago shows it in its settings, so the dashboard shows it too, to admins only
(viewers and finance get the 403 page) and never to be cached by the browser or a proxy.
"""

from __future__ import annotations

from fastapi import Request, Response

from meterly.api.http import unit_of_work
from meterly.services import operators
from meterly.services.accounts import find_organization
from meterly.services.notifications import webhooks
from meterly.web import auth
from meterly.web.dashboard.common import PER_PAGE, _page, section_router

router = section_router()


@router.get("/webhooks/hmac_key")
@auth.requires(operators.ADMIN)
def hmac_key(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize let only a signed-in admin through
    with unit_of_work(request) as session:
        organization = find_organization(session, who.organization_id)
        endpoints, _ = webhooks.list_page(
            session, organization_id=who.organization_id, page=1, per_page=PER_PAGE
        )
        response = _page(
            request,
            who,
            "dashboard/hmac_key.html",
            hmac_key=organization.hmac_key,
            endpoints=[e for e in endpoints if e.signature_algo == "hmac"],
        )
    response.headers["cache-control"] = "no-store"
    return response
