"""The plan editor's charge forms: add a usage charge to a plan, change it, remove it.

One form covers every charge model (its price fields, filters with prices of their own,
pricing group keys, pay in advance, proration, a minimum, taxes); the catalog's charge
rules (`plans.create_charge` / `update_charge`, as the API's charges endpoint) decide.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, NotFound
from meterly.services.catalog import plans as plan_service
from meterly.web import auth
from meterly.web.dashboard import messages, plan_forms
from meterly.web.dashboard.common import _not_found, _page, section_router
from meterly.web.dashboard.plan_editor import _form, _metrics, _options

router = section_router()


def _to_plan(code: str, message: str) -> Response:
    return RedirectResponse(
        f"/dashboard/plans/{quote(code)}?{urlencode({'message': message})}", status_code=303
    )


def _charge_form(
    request: Request,
    who: auth.Operator,
    code: str,
    *,
    charge_code: str | None,
    values: dict[str, str],
    errors: list[str],
    status: int = 200,
) -> Response:
    with unit_of_work(request) as session:
        try:
            plan = plan_service.find(session, organization_id=who.organization_id, code=code)
        except NotFound:
            return _not_found(request, who, "plan")
        return _page(
            request,
            who,
            "dashboard/charge_form.html",
            status_code=status,
            plan=plan,
            charge_code=charge_code,
            values=values,
            errors=errors,
            **_options(session, who),
        )


@router.get("/plans/{code}/charges/new")
def new_charge(code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed the request in
    return _charge_form(
        request, who, code, charge_code=None, values={"charge_model": "standard"}, errors=[]
    )


@router.post("/plans/{code}/charges/new")
async def create_charge(code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await _form(request, who)
    if data is None:
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            plan = plan_service.find(session, organization_id=who.organization_id, code=code)
            metric_id = next(
                (m.id for m in _metrics(session, who) if m.code == data.get("metric_code")), None
            )
            plan_service.create_charge(
                session,
                plan=plan,
                data=plan_forms.charge_input(
                    data,
                    metric_id=metric_id,
                    currency_code=plan.amount_currency,
                    codes=plan_forms.tax_codes(data["taxes"]),
                ),
                clock=clock(request),
            )
    except DomainError as exc:
        # The plan (or charge) itself missing is a 404 page; anything else, the form again.
        if isinstance(exc, NotFound) and exc.resource == "plan":
            return _not_found(request, who, exc.resource)
        return _charge_form(
            request,
            who,
            code,
            charge_code=None,
            values=data,
            errors=messages.describe(exc),
            status=422,
        )
    return _to_plan(code, "Charge added.")


@router.get("/plans/{code}/charges/{charge_code}/edit")
def edit_charge(code: str, charge_code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    with unit_of_work(request) as session:
        try:
            plan = plan_service.find(session, organization_id=who.organization_id, code=code)
            charge = plan_service.find_charge(session, plan=plan, code=charge_code)
        except NotFound as exc:
            return _not_found(request, who, exc.resource)
        values = plan_forms.charge_values(charge, plan.amount_currency)
    return _charge_form(request, who, code, charge_code=charge_code, values=values, errors=[])


@router.post("/plans/{code}/charges/{charge_code}/edit")
async def update_charge(code: str, charge_code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await _form(request, who)
    if data is None:
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            plan = plan_service.find(session, organization_id=who.organization_id, code=code)
            charge = plan_service.find_charge(session, plan=plan, code=charge_code)
            # The metric of a charge stays; a different metric is a new charge.
            plan_service.update_charge(
                session,
                charge=charge,
                data=plan_forms.charge_input(
                    data,
                    metric_id=None,
                    currency_code=plan.amount_currency,
                    codes=plan_forms.tax_codes(data["taxes"]),
                ),
                clock=clock(request),
            )
    except DomainError as exc:
        # The plan (or charge) itself missing is a 404 page; anything else, the form again.
        if isinstance(exc, NotFound) and exc.resource in ("plan", "charge"):
            return _not_found(request, who, exc.resource)
        return _charge_form(
            request,
            who,
            code,
            charge_code=charge_code,
            values=data,
            errors=messages.describe(exc),
            status=422,
        )
    return _to_plan(code, "Charge saved.")


@router.post("/plans/{code}/charges/{charge_code}/delete")
async def delete_charge(code: str, charge_code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            plan = plan_service.find(session, organization_id=who.organization_id, code=code)
            charge = plan_service.find_charge(session, plan=plan, code=charge_code)
            plan_service.delete_charge(session, charge=charge, clock=clock(request))
    except NotFound as exc:
        return _not_found(request, who, exc.resource)
    return _to_plan(code, f"Charge {charge_code} removed.")
