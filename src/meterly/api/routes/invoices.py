"""/api/v1/invoices and /api/v1/customers/{external_id}/past_usage."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import (
    clock,
    envelope,
    json_body,
    listing,
    organization_id,
    page_params,
    parse,
    query_list,
    root,
    settings,
    unit_of_work,
)
from meterly.api.openapi import RECIPIENTS, VOID_OPTIONS, wire_body
from meterly.api.routes.einvoice_links import invoice_xml_url
from meterly.api.routes.files import invoice_html
from meterly.api.schemas.emails import resend_overrides
from meterly.api.schemas.invoices import (
    InvoiceLinks,
    InvoiceUpdateIn,
    document_url,
    invoice,
    usage_period,
)
from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.services import billing, mail, payments
from meterly.services.billing import invoices as invoice_service
from meterly.services.billing import void_with_credit_note
from meterly.services.documents import invoice_pdf as documents
from meterly.store.tables import Customer, Invoice, PaymentProviderConnection

router = APIRouter(prefix="/invoices", tags=["invoices"])
customers_router = APIRouter(prefix="/customers", tags=["invoices"])


def render(
    request: Request, session: Session, row: Invoice, *, include_fees: bool = True
) -> dict[str, Any]:
    links = InvoiceLinks(
        file_url=document_url(settings(request), row.id, "pdf") if row.file_path else None,
    )
    body = invoice(session, row, include_fees=include_fees, links=links)
    body["xml_url"] = invoice_xml_url(request, session, row)
    return body


def _find(session: Session, org: str, invoice_id: str) -> Invoice:
    return invoice_service.find(session, organization_id=org, invoice_id=invoice_id)


def _refresh(session: Session, row: Invoice, request: Request) -> None:
    billing.refresh_draft(session, invoice=row, clock=clock(request))
    session.flush()
    session.refresh(row)


def _finalize(session: Session, row: Invoice, request: Request) -> None:
    """The billing engine re-runs the waterfall (consuming credits) before numbering."""
    billing.finalize(session, invoice=row, clock=clock(request))


def _date_param(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise ValidationFailed.field(name, "invalid_date") from None


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed.field(name, "value_is_invalid") from None


def _bool_param(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    return raw.lower() in ("true", "1", "yes")


def _filters(request: Request) -> invoice_service.InvoiceFilters:
    return invoice_service.InvoiceFilters(
        external_customer_id=request.query_params.get("external_customer_id") or None,
        statuses=tuple(query_list(request, "status") + query_list(request, "statuses")),
        payment_statuses=tuple(
            query_list(request, "payment_status") + query_list(request, "payment_statuses")
        ),
        invoice_types=tuple(query_list(request, "invoice_type")),
        currency=request.query_params.get("currency") or None,
        issuing_date_from=_date_param(request, "issuing_date_from"),
        issuing_date_to=_date_param(request, "issuing_date_to"),
        payment_overdue=_bool_param(request, "payment_overdue"),
        search_term=request.query_params.get("search_term") or None,
        amount_from=_int_param(request, "amount_from"),
        amount_to=_int_param(request, "amount_to"),
    )


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    filters = _filters(request)
    with unit_of_work(request) as session:
        rows, total = invoice_service.list_page(
            session, organization_id=org, page=page, per_page=per_page, filters=filters
        )
        items = [render(request, session, r, include_fees=False) for r in rows]
    return listing("invoices", items, page=page, per_page=per_page, total=total)


@router.get("/{invoice_id}.html")
def show_html(invoice_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        body = invoice_html(session, _find(session, org, invoice_id))
    return Response(body, media_type="text/html; charset=utf-8")


@router.get("/{invoice_id}")
def show(invoice_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        return envelope("invoice", render(request, session, _find(session, org, invoice_id)))


@router.put("/{invoice_id}", openapi_extra=wire_body("invoice", InvoiceUpdateIn))
def update(
    invoice_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = parse(InvoiceUpdateIn, root(body, "invoice"))
    with unit_of_work(request) as session:
        row = _find(session, org, invoice_id)
        invoice_service.update(
            session,
            invoice=row,
            payment_status=data.payment_status,
            metadata=data.metadata,
            clock=clock(request),
        )
        # Marked paid (or failed) by hand: a subscription waiting on it starts (or ends).
        billing.activation.on_payment_status(session, invoice=row, clock=clock(request))
        return envelope("invoice", render(request, session, row))


@router.delete("/{invoice_id}")
def destroy(invoice_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = _find(session, org, invoice_id)
        body = render(request, session, row)
        invoice_service.delete_draft(session, invoice=row, clock=clock(request))
        body["status"] = row.status
        return envelope("invoice", body)


@router.put("/{invoice_id}/refresh")
def refresh(invoice_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    """Lago recomputes a draft from events; any other invoice is answered unchanged."""
    with unit_of_work(request) as session:
        row = _find(session, org, invoice_id)
        if row.status == "draft":
            _refresh(session, row, request)
        return envelope("invoice", render(request, session, row))


@router.put("/{invoice_id}/finalize")
def finalize(invoice_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    """Refresh, then finalize; 404 unless the invoice is a draft (Lago)."""
    with unit_of_work(request) as session:
        row = _find(session, org, invoice_id)
        if row.status != "draft":
            raise NotFound("invoice")
        _refresh(session, row, request)
        _finalize(session, row, request)
        return envelope("invoice", render(request, session, row))


@router.post("/{invoice_id}/retry")
def retry(invoice_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    """A failed invoice is computed again and finalized."""
    with unit_of_work(request) as session:
        row = _find(session, org, invoice_id)
        if row.status != "failed":
            raise NotAllowed("invalid_status")
        _finalize(session, row, request)
        return envelope("invoice", render(request, session, row))


@router.post("/{invoice_id}/void", openapi_extra=VOID_OPTIONS)
def void(
    invoice_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    """Without a body, Lago's plain void. With `generate_credit_note`, the invoice is voided
    whatever its payment status and a credit note gives back `refund_amount` and
    `credit_amount` (services/billing/voiding.py)."""
    options = body if isinstance(body, dict) else {}
    with unit_of_work(request) as session:
        row = _find(session, org, invoice_id)
        if options.get("generate_credit_note") is True:
            void_with_credit_note(
                session,
                invoice=row,
                refund_amount_cents=options.get("refund_amount") or 0,
                credit_amount_cents=options.get("credit_amount") or 0,
                clock=clock(request),
            )
        else:
            invoice_service.void(session, invoice=row, clock=clock(request))
        return envelope("invoice", render(request, session, row))


@router.post("/{invoice_id}/download")
@router.post("/{invoice_id}/download_pdf")
def download(invoice_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    """The PDF is generated on first download; the invoice answers with its `file_url`."""
    with unit_of_work(request) as session:
        row = _find(session, org, invoice_id)
        if row.status not in ("finalized", "voided"):
            raise NotFound("invoice")
        if documents.stored_pdf(row) is None:
            documents.generate_pdf(session, invoice=row, clock=clock(request))
        return envelope("invoice", render(request, session, row))


@router.post("/{invoice_id}/resend_email", openapi_extra=RECIPIENTS)
def resend_email(
    invoice_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    """Queue the invoice's e-mail again, to the customer or to the `to`/`cc`/`bcc` named."""
    overrides = resend_overrides(body)
    with unit_of_work(request) as session:
        row = _find(session, org, invoice_id)
        if row.status != "finalized":
            raise NotAllowed("invalid_status", f"invoice is {row.status}")
        mail.resend(
            session,
            organization_id=org,
            customer_id=row.customer_id,
            kind="invoice",
            object_id=row.id,
            overrides=overrides,
            clock=clock(request),
        )
        return envelope("invoice", render(request, session, row))


@router.post("/{invoice_id}/lose_dispute")
@router.put("/{invoice_id}/lose_dispute")
def lose_dispute(
    invoice_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    # The Lago client sends PUT where Lago routes POST: both are accepted.
    with unit_of_work(request) as session:
        row = _find(session, org, invoice_id)
        invoice_service.lose_dispute(session, invoice=row, clock=clock(request))
        return envelope("invoice", render(request, session, row))


@router.post("/{invoice_id}/retry_payment")
def retry_payment(
    invoice_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    """A new collection attempt, charged by the worker through the customer's provider
    (services/payments/collection.py); Lago answers an empty 200."""
    with unit_of_work(request) as session:
        payments.collection.request_retry(
            session, invoice=_find(session, org, invoice_id), clock=clock(request)
        )
    return Response(status_code=200)


@router.post("/{invoice_id}/payment_url")
def payment_url(invoice_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    """A signed link to the hosted page where the customer pays this invoice by card."""
    config = settings(request)
    with unit_of_work(request) as session:
        row = _find(session, org, invoice_id)
        if row.status != "finalized" or row.payment_status == "succeeded":
            raise NotAllowed("invalid_status")
        link = payments.connections.find_link(session, customer_id=row.customer_id)
        if link is None:
            raise NotAllowed("missing_payment_provider")
        token = payments.links.issue(
            config.signing_key,
            organization_id=org,
            customer_id=row.customer_id,
            invoice_id=row.id,
            now=clock(request).now(),
        )
        customer = session.get(Customer, row.customer_id)
        connection = session.get(PaymentProviderConnection, link.connection_id)
        assert customer is not None
        return envelope(
            "invoice_payment_details",
            {
                "lago_customer_id": row.customer_id,
                "lago_invoice_id": row.id,
                "external_customer_id": customer.external_id,
                "payment_provider": connection.provider if connection else None,
                "payment_url": payments.links.page_url(config.public_url, token),
            },
        )


# --- past usage --------------------------------------------------------------------------


@customers_router.get("/{external_customer_id}/past_usage")
def past_usage(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    params = request.query_params
    sub_id = params.get("external_subscription_id")
    if not sub_id:
        raise ValidationFailed.field("external_subscription_id", "value_is_mandatory")
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        periods, total = invoice_service.past_usage_periods(
            session,
            organization_id=org,
            external_customer_id=external_customer_id,
            external_subscription_id=sub_id,
            billable_metric_code=params.get("billable_metric_code") or None,
            periods_count=_int_param(request, "periods_count"),
            page=page,
            per_page=per_page,
        )
        items = [usage_period(session, inv, period, fees) for inv, period, fees in periods]
    return listing("usage_periods", items, page=page, per_page=per_page, total=total)
