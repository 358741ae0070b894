"""/api/v1/organizations: the current organization's settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

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
from meterly.api.schemas.organizations import OrganizationIn, organization
from meterly.services import billing
from meterly.services.accounts import organizations as orgs

router = APIRouter(prefix="/organizations", tags=["organizations"])


@router.get("")
def show(request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        return envelope("organization", organization(orgs.find_organization(session, org)))


@router.put("")
def update(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = parse(OrganizationIn, root(body, "organization"))
    with unit_of_work(request) as session:
        row = orgs.find_organization(session, org)
        orgs.update_organization(session, row, changes=present(data), clock=clock(request))
        if "invoice_grace_period" in (
            root(body, "organization").get("billing_configuration") or {}
        ):
            # A lower grace period finalizes at once the drafts now due (Lago).
            billing.apply_grace_period(session, organization_id=org, clock=clock(request))
        return envelope("organization", organization(row))
