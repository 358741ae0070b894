"""/api/v1/organizations: the current organization's settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import (
    clock,
    envelope,
    json_body,
    organization_id,
    parse,
    present,
    root,
    unit_of_work,
)
from meterly.api.openapi import wire_body
from meterly.api.schemas.organizations import OrganizationIn, organization
from meterly.domain.errors import ValidationFailed
from meterly.services import billing, documents, mail
from meterly.services.accounts import organizations as orgs

router = APIRouter(prefix="/organizations", tags=["organizations"])


def _with_mail(session: Session, payload: dict[str, Any], org: str) -> dict[str, Any]:
    """Lago's `email_settings` and Meterly's `email_delivery` (sender, copies) for `org`."""
    payload["email_settings"] = mail.document_types(session, org)
    payload["email_delivery"] = mail.settings_wire(session, org)
    return payload


def _mail_changes(body: dict[str, Any]) -> dict[str, Any] | None:
    delivery = body.get("email_delivery")
    if delivery is not None and not isinstance(delivery, dict):
        raise ValidationFailed.field("email_delivery", "value_is_invalid")
    changes = {k: v for k, v in (delivery or {}).items() if k in mail.settings.SETTING_FIELDS}
    if "email_settings" in body:
        changes["email_settings"] = body["email_settings"]
    return changes or None


@router.get("")
def show(request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        payload = organization(orgs.find_organization(session, org))
        return envelope("organization", _with_mail(session, payload, org))


@router.put("", openapi_extra=wire_body("organization", OrganizationIn))
def update(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = parse(OrganizationIn, root(body, "organization"))
    with unit_of_work(request) as session:
        row = orgs.find_organization(session, org)
        orgs.update_organization(session, row, changes=present(data), clock=clock(request))
        if data.einvoicing is not None:
            documents.set_einvoicing(row, enabled=data.einvoicing, clock=clock(request))
        mail_changes = _mail_changes(root(body, "organization"))
        if mail_changes is not None:
            mail.update_settings(
                session, organization_id=org, changes=mail_changes, clock=clock(request)
            )
        if "invoice_grace_period" in (
            root(body, "organization").get("billing_configuration") or {}
        ):
            # A lower grace period finalizes at once the drafts now due (Lago).
            billing.apply_grace_period(session, organization_id=org, clock=clock(request))
        return envelope("organization", _with_mail(session, organization(row), org))
