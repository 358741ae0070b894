"""/api/v1/payments, /payment_receipts, /payment_providers and customers' payment calls."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import (
    clock,
    envelope,
    json_body,
    listing,
    ok,
    organization_id,
    page_params,
    parse,
    root,
    settings,
    unit_of_work,
)
from meterly.api.openapi import wire_body
from meterly.api.schemas.payments import (
    ConnectionIn,
    PaymentIn,
    connection,
    payment,
    payment_method,
    payment_method_id,
    payment_receipt,
)
from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.services import documents
from meterly.services.accounts import customers
from meterly.services.payments import (
    ConnectionInput,
    ManualPayment,
    PaymentMethod,
    PaymentProvider,
    ProviderError,
    connections,
    ledger,
    links,
)
from meterly.store.tables import PaymentProviderConnection

router = APIRouter(tags=["payments"])
customers_router = APIRouter(prefix="/customers", tags=["payments"])


def _paid_at(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(), tzinfo=UTC)


@router.post("/payments", openapi_extra=wire_body("payment", PaymentIn))
def create_payment(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = parse(PaymentIn, root(body, "payment"))
    with unit_of_work(request) as session:
        row = ledger.record_manual(
            session,
            organization_id=org,
            data=ManualPayment(
                invoice_id=data.invoice_id,
                amount_cents=data.amount_cents,
                reference=data.reference,
                paid_at=_paid_at(data.paid_at),
            ),
            clock=clock(request),
        )
        return envelope("payment", payment(session, row))


def _payments(request: Request, org: str, external_customer_id: str | None) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = ledger.list_payments(
            session,
            organization_id=org,
            page=page,
            per_page=per_page,
            external_customer_id=external_customer_id,
            invoice_id=request.query_params.get("invoice_id") or None,
        )
        items = [payment(session, r) for r in rows]
    return listing("payments", items, page=page, per_page=per_page, total=total)


@router.get("/payments")
def list_payments(request: Request, org: str = Depends(organization_id)) -> Response:
    return _payments(request, org, request.query_params.get("external_customer_id") or None)


@router.get("/payments/{payment_id}")
def show_payment(
    payment_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = ledger.find_payment(session, organization_id=org, payment_id=payment_id)
        return envelope("payment", payment(session, row))


@router.get("/payment_receipts")
def list_receipts(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = ledger.list_receipts(
            session,
            organization_id=org,
            page=page,
            per_page=per_page,
            invoice_id=request.query_params.get("invoice_id") or None,
        )
        items = [payment_receipt(session, r) for r in rows]
    return listing("payment_receipts", items, page=page, per_page=per_page, total=total)


@router.get("/payment_receipts/{receipt_id}")
def show_receipt(
    receipt_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = ledger.find_receipt(session, organization_id=org, receipt_id=receipt_id)
        return envelope("payment_receipt", payment_receipt(session, row))


@router.get("/payment_receipts/{receipt_id}/pdf")
def receipt_file(
    receipt_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    """The receipt as a PDF (Meterly's own), rendered and stored on first download."""
    with unit_of_work(request) as session:
        row = ledger.find_receipt(session, organization_id=org, receipt_id=receipt_id)
        path = documents.receipt_pdf.receipt_pdf(session, receipt=row)
        number = row.number
    return Response(
        path.read_bytes(),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{number}.pdf"'},
    )


# --- provider connections (Meterly's own: Lago configures them in its UI) --------------


@router.put(
    "/payment_providers/{provider}", openapi_extra=wire_body("payment_provider", ConnectionIn)
)
def connect_provider(
    provider: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = parse(ConnectionIn, root(body, "payment_provider"))
    with unit_of_work(request) as session:
        row = connections.connect(
            session,
            organization_id=org,
            data=ConnectionInput(
                provider=provider,
                code=data.code,
                name=data.name,
                secret_key=data.secret_key,
                webhook_secret=data.webhook_secret,
                api_base=data.api_base,
                publishable_key=data.publishable_key,
                success_redirect_url=data.success_redirect_url,
            ),
            keys=settings(request).verification_keys,
            clock=clock(request),
        )
        return envelope("payment_provider", connection(row))


@router.get("/payment_providers")
def list_providers(request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        rows = connections.list_connections(session, organization_id=org)
        return ok({"payment_providers": [connection(r) for r in rows]})


# --- a customer's payments, payment methods and checkout link --------------------------


@customers_router.get("/{external_customer_id}/payments")
def customer_payments(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    return _payments(request, org, external_customer_id)


@dataclass(frozen=True)
class _Methods:
    """A customer's provider, read in one unit of work and used after it closed."""

    provider: PaymentProvider
    connection: PaymentProviderConnection
    provider_customer_id: str
    linked_at: datetime


def _methods_of(request: Request, org: str, external_customer_id: str) -> _Methods | None:
    keys = settings(request).verification_keys
    with unit_of_work(request) as session:
        customer = customers.find(session, organization_id=org, external_id=external_customer_id)
        link = connections.find_link(session, customer_id=customer.id)
        conn = session.get(PaymentProviderConnection, link.connection_id) if link else None
        if link is None or conn is None or not link.provider_customer_id:
            return None
        session.expunge(conn)
        return _Methods(
            connections.adapter(conn, keys), conn, link.provider_customer_id, link.created_at
        )


def _listed(found: _Methods) -> list[PaymentMethod]:
    try:
        return found.provider.payment_methods(found.provider_customer_id)
    except ProviderError:
        raise ValidationFailed.field("payment_provider", "provider_unreachable") from None


@customers_router.get("/{external_customer_id}/payment_methods")
def customer_payment_methods(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    page, per_page = page_params(request)
    found = _methods_of(request, org, external_customer_id)
    items: list[dict[str, Any]] = []
    if found is not None:
        items = [payment_method(m, found.connection, found.linked_at) for m in _listed(found)]
    shown = items[(page - 1) * per_page : page * per_page]
    return listing("payment_methods", shown, page=page, per_page=per_page, total=len(items))


def _one_method(
    request: Request, org: str, external_customer_id: str, lago_id: str
) -> tuple[_Methods, PaymentMethod]:
    """The customer's saved method named by its Lago id (or the provider's own id)."""
    found = _methods_of(request, org, external_customer_id)
    if found is None:
        raise NotFound("payment_method")
    for method in _listed(found):
        ids = (
            payment_method_id(found.connection, method.provider_method_id),
            method.provider_method_id,
        )
        if lago_id in ids:
            return found, method
    raise NotFound("payment_method")


def _method_answer(found: _Methods, method: PaymentMethod, *, is_default: bool) -> Response:
    shown = replace(method, is_default=is_default)
    return envelope("payment_method", payment_method(shown, found.connection, found.linked_at))


@customers_router.put("/{external_customer_id}/payment_methods/{lago_id}/set_as_default")
def set_default_payment_method(
    external_customer_id: str, lago_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    """The method the provider charges off-session from now on (Stripe: the customer's
    `invoice_settings.default_payment_method`)."""
    found, method = _one_method(request, org, external_customer_id, lago_id)
    try:
        found.provider.set_default_method(
            provider_customer_id=found.provider_customer_id,
            provider_method_id=method.provider_method_id,
        )
    except ProviderError:
        raise ValidationFailed.field("payment_provider", "provider_unreachable") from None
    return _method_answer(found, method, is_default=True)


@customers_router.delete("/{external_customer_id}/payment_methods/{lago_id}")
def delete_payment_method(
    external_customer_id: str, lago_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    """Detach the method at the provider: it is never charged again."""
    found, method = _one_method(request, org, external_customer_id, lago_id)
    try:
        found.provider.remove_method(
            provider_customer_id=found.provider_customer_id,
            provider_method_id=method.provider_method_id,
        )
    except ProviderError:
        raise ValidationFailed.field("payment_provider", "provider_unreachable") from None
    return _method_answer(found, method, is_default=False)


@customers_router.post("/{external_customer_id}/checkout_url")
def checkout_url(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    config = settings(request)
    with unit_of_work(request) as session:
        customer = customers.find(session, organization_id=org, external_id=external_customer_id)
        link = connections.find_link(session, customer_id=customer.id)
        if link is None:
            raise NotAllowed("missing_payment_provider")
        conn = session.get(PaymentProviderConnection, link.connection_id)
        assert conn is not None
        token = links.issue(
            config.signing_key,
            organization_id=org,
            customer_id=customer.id,
            invoice_id=None,
            now=clock(request).now(),
        )
        return envelope(
            "customer",
            {
                "lago_customer_id": customer.id,
                "external_customer_id": customer.external_id,
                "payment_provider": conn.provider,
                "payment_provider_code": conn.code,
                "checkout_url": links.page_url(config.public_url, token),
            },
        )
