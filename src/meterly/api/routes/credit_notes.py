"""/api/v1/credit_notes, /api/v1/customers/{external_id}/credit_notes and the signed
credit note PDF under /api/v1/files/credit_notes (no API key: the link carries an HMAC)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

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
from meterly.api.openapi import METADATA, RECIPIENTS, wire_body
from meterly.api.routes.einvoice_links import credit_note_xml_url
from meterly.api.schemas.credit_notes import (
    CreditNoteIn,
    CreditNoteUpdateIn,
    credit_note,
    estimated_credit_note,
)
from meterly.api.schemas.emails import resend_overrides
from meterly.config import Settings
from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.services import mail
from meterly.services.accounts import customers as customer_service
from meterly.services.credits import credit_notes as notes
from meterly.services.documents import credit_note_pdf as note_documents
from meterly.store.tables_credit_notes import CreditNote

router = APIRouter(prefix="/credit_notes", tags=["credit_notes"])
customers_router = APIRouter(prefix="/customers", tags=["credit_notes"])
files_router = APIRouter(prefix="/files/credit_notes", tags=["files"])


# --- signed document links -----------------------------------------------------------------


def sign(config: Settings, credit_note_id: str, *, key: str | None = None) -> str:
    message = f"meterly:credit-note-document:{credit_note_id}".encode()
    secret = key or config.signing_key
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def document_url(config: Settings, credit_note_id: str) -> str:
    base = config.public_url.rstrip("/")
    token = sign(config, credit_note_id)
    return f"{base}/api/v1/files/credit_notes/{quote(credit_note_id)}.pdf?token={token}"


def render(request: Request, session: Session, row: CreditNote) -> dict[str, Any]:
    url = document_url(settings(request), row.id) if row.file_path else None
    body = credit_note(session, row, file_url=url)
    body["xml_url"] = credit_note_xml_url(session, row, document_url(settings(request), row.id))
    return body


# --- input -------------------------------------------------------------------------------------


def _input(body: Any) -> notes.CreditNoteInput:
    data = parse(CreditNoteIn, root(body, "credit_note"))
    return notes.CreditNoteInput(
        invoice_id=data.invoice_id,
        items=tuple(
            notes.ItemInput(fee_id=i.fee_id, amount_cents=i.amount_cents) for i in data.items or []
        ),
        reason=data.reason,
        description=data.description,
        credit_amount_cents=data.credit_amount_cents or 0,
        refund_amount_cents=data.refund_amount_cents or 0,
        offset_amount_cents=data.offset_amount_cents or 0,
        metadata=dict(data.metadata or {}),
    )


def _find(session: Session, org: str, credit_note_id: str) -> CreditNote:
    return notes.find(session, organization_id=org, credit_note_id=credit_note_id)


# --- endpoints -----------------------------------------------------------------------------


@router.post("", openapi_extra=wire_body("credit_note", CreditNoteIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = notes.create(session, organization_id=org, data=data, clock=clock(request))
        return envelope("credit_note", render(request, session, row))


@router.post("/estimate", openapi_extra=wire_body("credit_note", CreditNoteIn))
def estimate(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        invoice, result = notes.estimate(
            session, organization_id=org, invoice_id=data.invoice_id, items=data.items
        )
        return envelope("estimated_credit_note", estimated_credit_note(session, invoice, result))


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    return _listing(request, org, request.query_params.get("external_customer_id") or None)


@customers_router.get("/{external_customer_id}/credit_notes")
def customer_index(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        customer_service.find(session, organization_id=org, external_id=external_customer_id)
    return _listing(request, org, external_customer_id)


def _listing(request: Request, org: str, external_customer_id: str | None) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = notes.list_page(
            session,
            organization_id=org,
            page=page,
            per_page=per_page,
            external_customer_id=external_customer_id,
        )
        items = [render(request, session, r) for r in rows]
    return listing("credit_notes", items, page=page, per_page=per_page, total=total)


@router.get("/{credit_note_id}")
def show(credit_note_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        return envelope(
            "credit_note", render(request, session, _find(session, org, credit_note_id))
        )


@router.put("/{credit_note_id}", openapi_extra=wire_body("credit_note", CreditNoteUpdateIn))
def update(
    credit_note_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = parse(CreditNoteUpdateIn, root(body, "credit_note"))
    with unit_of_work(request) as session:
        row = _find(session, org, credit_note_id)
        notes.update(
            session,
            note=row,
            refund_status=data.refund_status,
            metadata=data.metadata,
            clock=clock(request),
        )
        return envelope("credit_note", render(request, session, row))


@router.put("/{credit_note_id}/void")
@router.post("/{credit_note_id}/void")
def void(credit_note_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = _find(session, org, credit_note_id)
        notes.void(session, note=row, clock=clock(request))
        return envelope("credit_note", render(request, session, row))


@router.post("/{credit_note_id}/download")
def download(
    credit_note_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    """The PDF is generated on first download; the answer carries its `file_url`."""
    with unit_of_work(request) as session:
        row = _find(session, org, credit_note_id)
        if note_documents.stored_pdf(row) is None:
            note_documents.generate_pdf(session, note=row, clock=clock(request))
        return envelope("credit_note", render(request, session, row))


@router.post("/{credit_note_id}/resend_email", openapi_extra=RECIPIENTS)
def resend_email(
    credit_note_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    """Queue the credit note's e-mail again (Lago's `{to[], cc[], bcc[]}` body)."""
    overrides = resend_overrides(body)
    with unit_of_work(request) as session:
        row = _find(session, org, credit_note_id)
        if row.status != "finalized":
            raise NotAllowed("invalid_status", f"credit note is {row.status}")
        mail.resend(
            session,
            organization_id=org,
            customer_id=row.customer_id,
            kind="credit_note",
            object_id=row.id,
            overrides=overrides,
            clock=clock(request),
        )
        return envelope("credit_note", render(request, session, row))


# --- metadata ------------------------------------------------------------------------------


def _metadata_body(body: Any) -> dict[str, Any] | None:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValidationFailed.field("metadata", "value_is_invalid")
    value = body.get("metadata", {})
    if value is not None and not isinstance(value, dict):
        raise ValidationFailed.field("metadata", "value_is_invalid")
    return value


@router.post("/{credit_note_id}/metadata", openapi_extra=METADATA)
def replace_metadata(
    credit_note_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    metadata = _metadata_body(body)
    with unit_of_work(request) as session:
        row = _find(session, org, credit_note_id)
        result = notes.replace_metadata(session, note=row, metadata=metadata, clock=clock(request))
    return ok({"metadata": result})


@router.patch("/{credit_note_id}/metadata", openapi_extra=METADATA)
def merge_metadata(
    credit_note_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    metadata = _metadata_body(body)
    with unit_of_work(request) as session:
        row = _find(session, org, credit_note_id)
        result = notes.merge_metadata(session, note=row, metadata=metadata, clock=clock(request))
    return ok({"metadata": result})


@router.delete("/{credit_note_id}/metadata")
def delete_all_metadata(
    credit_note_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = _find(session, org, credit_note_id)
        result = notes.delete_metadata(session, note=row, key=None, clock=clock(request))
    return ok({"metadata": result})


@router.delete("/{credit_note_id}/metadata/{key}")
def delete_metadata_key(
    credit_note_id: str, key: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = _find(session, org, credit_note_id)
        result = notes.delete_metadata(session, note=row, key=key, clock=clock(request))
    return ok({"metadata": result})


# --- the signed PDF ------------------------------------------------------------------------


@files_router.get("/{credit_note_id}.pdf")
def credit_note_pdf(credit_note_id: str, request: Request) -> Response:
    token = request.query_params.get("token") or ""
    config = settings(request)
    if not token or not any(  # any listed secret: links survive a rotation
        hmac.compare_digest(sign(config, credit_note_id, key=key).encode(), token.encode())
        for key in config.verification_keys
    ):
        raise NotFound("credit_note")
    with unit_of_work(request) as session:
        row = session.get(CreditNote, credit_note_id)
        if row is None:
            raise NotFound("credit_note")
        path = note_documents.stored_pdf(row)
        if path is None:
            path = note_documents.generate_pdf(session, note=row, clock=clock(request))
        filename = f"credit-note-{row.number}.pdf"
    return Response(
        path.read_bytes(),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )
