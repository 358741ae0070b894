"""/api/v1/customers/{external_id}/portal_url: a signed, expiring link to the portal."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import clock, envelope, organization_id, settings, unit_of_work
from meterly.services.analytics import portal

router = APIRouter(prefix="/customers", tags=["customers"])


@router.get("/{external_customer_id}/portal_url")
def portal_url(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    config = settings(request)
    with unit_of_work(request) as session:
        url = portal.portal_url(
            session,
            organization_id=org,
            external_customer_id=external_customer_id,
            secret_key=config.signing_key,
            public_url=config.public_url,
            now=clock(request).now(),
        )
    return envelope("customer", {"portal_url": url})
