"""The hosted payment page: /pay/{token}, reached from `payment_url` and `checkout_url`.

The token is a signed, expiring link (services/payments/links.py). The page collects a
card with the provider's own script (Stripe.js: card numbers never reach Meterly), saves
it with a SetupIntent, then asks Meterly to charge the invoice with it; 3-D Secure, when
the bank asks for it, is confirmed in the page and read back from the provider.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from meterly.api.http import clock, database, parse_json, settings, unit_of_work
from meterly.domain.errors import NotAllowed, NotFound
from meterly.services.analytics import portal
from meterly.services.common import new_id
from meterly.services.payments import ProviderError, checkout, connections, links
from meterly.store.tables import Invoice
from meterly.web.security import allow_payment_provider
from meterly.web.templating import render

router = APIRouter(prefix="/pay", include_in_schema=False)


def _page(request: Request, token: str) -> checkout.PageContext:
    grant = links.read(settings(request).verification_keys, token, now=clock(request).now())
    with unit_of_work(request) as session:
        return checkout.context(
            session,
            organization_id=grant.organization_id,
            customer_id=grant.customer_id,
            invoice_id=grant.invoice_id,
            keys=settings(request).verification_keys,
        )


def _gone() -> Response:
    return render("payments/not_found.html", status_code=404)


@router.get("/{token}")
def show(token: str, request: Request) -> Response:
    try:
        page = _page(request, token)
    except (NotFound, NotAllowed):
        return _gone()
    response = render(
        "payments/pay.html",
        page=page,
        config={
            "publishable_key": page.publishable_key,
            "invoice": page.invoice_id is not None,
            "paid": page.paid,
            "base": f"/pay/{token}",
            "success_redirect_url": page.success_redirect_url,
        },
    )
    # The provider's script and API (Stripe, or the connection's api_base) must be allowed.
    return allow_payment_provider(response, page.script_url)


async def _body(request: Request) -> dict[str, Any]:
    body = parse_json(await request.body())
    return body if isinstance(body, dict) else {}


def _answer(status: str, **fields: Any) -> JSONResponse:
    return JSONResponse({"status": status, **fields})


def _method(body: dict[str, Any]) -> str | None:
    value = body.get("payment_method")
    return value if isinstance(value, str) and value else None


@router.get("/portal/{portal_token}/{invoice_id}")
def from_portal(portal_token: str, invoice_id: str, request: Request) -> Response:
    """The portal's "Pay" button: a fresh payment link for one of the customer's invoices."""
    config = settings(request)
    now = clock(request).now()
    with unit_of_work(request) as session:
        try:
            customer = portal.open_portal(
                session, secret_keys=config.verification_keys, token=portal_token, now=now
            )
        except NotFound:
            return _gone()
        invoice = session.get(Invoice, invoice_id)
        if invoice is None or invoice.customer_id != customer.id:
            return _gone()
        if connections.find_link(session, customer_id=customer.id) is None:
            return render("payments/unavailable.html", status_code=409)
        token = links.issue(
            config.signing_key,
            organization_id=customer.organization_id,
            customer_id=customer.id,
            invoice_id=invoice.id,
            now=now,
        )
    return RedirectResponse(f"/pay/{token}", status_code=303)


@router.post("/{token}/setup")
def setup(token: str, request: Request) -> Response:
    try:
        page = _page(request, token)
        secret = checkout.start_setup(database(request), page, nonce=new_id(), clock=clock(request))
    except (NotFound, NotAllowed):
        return _answer("not_found")
    except ProviderError as exc:
        return _answer("error", message=str(exc))
    return _answer("ready", client_secret=secret)


@router.post("/{token}/save")
async def save(token: str, request: Request) -> Response:
    method = _method(await _body(request))
    return await _threaded(_save, token, request, method)


def _save(token: str, request: Request, method: str | None) -> Response:
    if method is None:
        return _answer("error", message="no payment method")
    try:
        page = _page(request, token)
        checkout.save_method(database(request), page, method_id=method, clock=clock(request))
    except (NotFound, NotAllowed):
        return _answer("not_found")
    except ProviderError as exc:
        return _answer("error", message=str(exc))
    return _answer("saved")


@router.post("/{token}/charge")
async def charge(token: str, request: Request) -> Response:
    method = _method(await _body(request))
    return await _threaded(_charge, token, request, method)


def _charge(token: str, request: Request, method: str | None) -> Response:
    if method is None:
        return _answer("error", message="no payment method")
    try:
        page = _page(request, token)
        result = checkout.pay_invoice(
            database(request), page, method_id=method, clock=clock(request)
        )
    except (NotFound, NotAllowed):
        return _answer("not_found")
    except ProviderError as exc:
        return _answer("error", message=str(exc))
    return _answer(
        result.outcome,
        payment_intent=result.provider_payment_id,
        client_secret=result.client_secret if result.outcome == "requires_action" else None,
        message=result.error_message,
    )


@router.post("/{token}/sync")
async def sync(token: str, request: Request) -> Response:
    body = await _body(request)
    intent = body.get("payment_intent")
    return await _threaded(_sync, token, request, intent if isinstance(intent, str) else None)


def _sync(token: str, request: Request, intent: str | None) -> Response:
    if intent is None:
        return _answer("error", message="no payment")
    try:
        page = _page(request, token)
        result = checkout.sync_payment(
            database(request), page, provider_payment_id=intent, clock=clock(request)
        )
    except (NotFound, NotAllowed):
        return _answer("not_found")
    except ProviderError as exc:
        return _answer("error", message=str(exc))
    return _answer(result.outcome, message=result.error_message)


async def _threaded(fn: Any, *args: Any) -> Response:
    # Provider calls and units of work block: they run on the thread pool.
    response: Response = await run_in_threadpool(fn, *args)
    return response
