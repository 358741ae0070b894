"""/api/v1/dunning_campaigns (Meterly's own: Lago sets campaigns in its UI) and the
campaign a customer follows."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import (
    clock,
    envelope,
    json_body,
    ok,
    organization_id,
    parse,
    root,
    unit_of_work,
)
from meterly.api.openapi import wire_body
from meterly.api.schemas.payment_requests import (
    CustomerDunningIn,
    DunningCampaignIn,
    customer_dunning,
    dunning_campaign,
)
from meterly.domain.errors import ValidationFailed
from meterly.services.accounts import customers
from meterly.services.payments import dunning

router = APIRouter(tags=["dunning_campaigns"])
customers_router = APIRouter(prefix="/customers", tags=["dunning_campaigns"])


def _input(data: DunningCampaignIn, code: str) -> dunning.CampaignInput:
    return dunning.CampaignInput(
        code=code,
        name=data.name,
        description=data.description,
        applied_to_organization=data.applied_to_organization,
        days_between_attempts=data.days_between_attempts,
        max_attempts=data.max_attempts,
        thresholds=None if data.thresholds is None else [t.model_dump() for t in data.thresholds],
        bcc_emails=data.bcc_emails,
    )


@router.post("/dunning_campaigns", openapi_extra=wire_body("dunning_campaign", DunningCampaignIn))
def create_campaign(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = parse(DunningCampaignIn, root(body, "dunning_campaign"))
    with unit_of_work(request) as session:
        existing = {c.code for c in dunning.list_campaigns(session, organization_id=org)}
        if data.code in existing:
            raise ValidationFailed.field("code", "value_already_exist")
        row = dunning.save(
            session, organization_id=org, data=_input(data, data.code), clock=clock(request)
        )
        return envelope("dunning_campaign", dunning_campaign(row))


@router.put(
    "/dunning_campaigns/{code}", openapi_extra=wire_body("dunning_campaign", DunningCampaignIn)
)
def update_campaign(
    code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    raw = dict(root(body, "dunning_campaign"))
    raw.setdefault("code", code)
    data = parse(DunningCampaignIn, raw)
    with unit_of_work(request) as session:
        dunning.find(session, organization_id=org, code=code)
        row = dunning.save(
            session, organization_id=org, data=_input(data, code), clock=clock(request)
        )
        return envelope("dunning_campaign", dunning_campaign(row))


@router.get("/dunning_campaigns")
def list_campaigns(request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        rows = dunning.list_campaigns(session, organization_id=org)
        return ok({"dunning_campaigns": [dunning_campaign(r) for r in rows]})


@router.get("/dunning_campaigns/{code}")
def show_campaign(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = dunning.find(session, organization_id=org, code=code)
        return envelope("dunning_campaign", dunning_campaign(row))


@router.delete("/dunning_campaigns/{code}")
def delete_campaign(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = dunning.delete(session, organization_id=org, code=code, clock=clock(request))
        return envelope("dunning_campaign", dunning_campaign(row))


def _customer_answer(session: Any, org: str, external_customer_id: str) -> Response:
    customer = customers.find(session, organization_id=org, external_id=external_customer_id)
    state = dunning.state_of(session, customer.id)
    campaign = (
        dunning.campaign_for(session, state, org) if state and state.applied_campaign_id else None
    )
    return envelope("customer", customer_dunning(customer, state, campaign))


@customers_router.get("/{external_customer_id}/dunning_campaign")
def customer_campaign(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        return _customer_answer(session, org, external_customer_id)


@customers_router.put(
    "/{external_customer_id}/dunning_campaign",
    openapi_extra=wire_body("customer", CustomerDunningIn),
)
def assign_campaign(
    external_customer_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    """`applied_dunning_campaign_code` names a campaign, `exclude_from_dunning_campaign`
    takes the customer out of the default one; neither follows the default again."""
    data = parse(CustomerDunningIn, root(body, "customer"))
    with unit_of_work(request) as session:
        dunning.assign(
            session,
            organization_id=org,
            external_customer_id=external_customer_id,
            campaign_code=data.applied_dunning_campaign_code,
            excluded=data.exclude_from_dunning_campaign,
            clock=clock(request),
        )
        return _customer_answer(session, org, external_customer_id)
