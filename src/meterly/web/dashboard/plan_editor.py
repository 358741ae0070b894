"""The plan editor: a plan's terms and each of its charges, created, changed and deleted.

Every form goes through the catalog services the API uses (`services.catalog.plans`), so
the rules and their refusals are Lago's; a refusal re-shows the form with what was typed
and the reasons in words. Writes are admin-only (web/auth.py: no finance segment here).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, NotFound
from meterly.services.catalog import billable_metrics as metric_service
from meterly.services.catalog import plans as plan_service
from meterly.services.catalog import taxes as tax_service
from meterly.services.notifications import enqueue
from meterly.store.tables import BillableMetricRow, Plan
from meterly.web import auth
from meterly.web.dashboard import messages, plan_forms
from meterly.web.dashboard.common import _not_found, _page, section_router

router = section_router()


def _metrics(session: Session, who: auth.Operator) -> list[BillableMetricRow]:
    rows, _ = metric_service.list_page(
        session, organization_id=who.organization_id, page=1, per_page=500
    )
    return rows


def _tax_codes(session: Session, who: auth.Operator) -> list[Any]:
    rows, _ = tax_service.list_page(
        session, organization_id=who.organization_id, page=1, per_page=500
    )
    return rows


async def _form(request: Request, who: auth.Operator) -> dict[str, str] | None:
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return None
    # Tax boxes share a name: keep every checked one (auth.form keeps the last value).
    raw = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    data["taxes"] = ",".join(raw.get("taxes", []))
    return data


def _options(session: Session, who: auth.Operator) -> dict[str, Any]:
    return {
        "metrics": _metrics(session, who),
        "taxes": _tax_codes(session, who),
        "intervals": plan_service.INTERVALS,
        "models": plan_forms.CHARGE_MODELS,
        "model_labels": plan_forms.MODEL_LABELS,
        "tiers": plan_forms.TIERS,
        "filter_rows": plan_forms.FILTERS,
        "threshold_rows": plan_forms.THRESHOLDS,
    }


def _to_plan(code: str, message: str) -> Response:
    return RedirectResponse(
        f"/dashboard/plans/{quote(code)}?{urlencode({'message': message})}", status_code=303
    )


def _first_charge(
    data: dict[str, str], metrics: list[BillableMetricRow]
) -> tuple[plan_service.ChargeInput, ...]:
    """The plan form's optional usage charge (more are added from the plan's page)."""
    code = data.get("metric_code", "")
    if not code:
        return ()
    metric_id = next((m.id for m in metrics if m.code == code), "")
    return (
        plan_forms.charge_input(
            data,
            metric_id=metric_id,
            currency_code=(data.get("currency") or "USD").upper(),
            codes=plan_forms.tax_codes(data.get("charge_taxes", "")),
        ),
    )


# --- plans ---------------------------------------------------------------------------------


@router.get("/plans/new")
def plan_form(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed the request in
    with unit_of_work(request) as session:
        return _page(
            request,
            who,
            "dashboard/plan_form.html",
            plan=None,
            errors=[],
            values={"interval": "monthly", "currency": "USD", "charge_model": "standard"},
            **_options(session, who),
        )


@router.post("/plans/new")
async def create_plan(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await _form(request, who)
    if data is None:
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = plan_service.create(
                session,
                organization_id=who.organization_id,
                data=plan_forms.plan_input(
                    data,
                    taxes=plan_forms.tax_codes(data["taxes"]),
                    charges=_first_charge(data, _metrics(session, who)),
                ),
                clock=clock(request),
            )
            code = row.code
    except DomainError as exc:
        return _plan_form_again(request, who, None, data, exc)
    return _to_plan(code, "Plan created.")


def _plan_form_again(
    request: Request, who: auth.Operator, plan: Plan | None, data: dict[str, str], exc: DomainError
) -> Response:
    with unit_of_work(request) as session:
        return _page(
            request,
            who,
            "dashboard/plan_form.html",
            status_code=422,
            plan=plan,
            errors=messages.describe(exc),
            values=data,
            **_options(session, who),
        )


@router.get("/plans/{code}")
def plan(code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    with unit_of_work(request) as session:
        try:
            row = plan_service.find(session, organization_id=who.organization_id, code=code)
        except NotFound:
            return _not_found(request, who, "plan")
        return _page(
            request,
            who,
            "dashboard/plan.html",
            plan=row,
            counts=plan_service.counters(session, row.id),
            attached=plan_service.is_attached(session, row.id),
            message=request.query_params.get("message"),
            model_labels=plan_forms.MODEL_LABELS,
            all_values=plan_service.ALL_FILTER_VALUES,
        )


@router.get("/plans/{code}/edit")
def edit_plan_form(code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    with unit_of_work(request) as session:
        try:
            row = plan_service.find(session, organization_id=who.organization_id, code=code)
        except NotFound:
            return _not_found(request, who, "plan")
        return _page(
            request,
            who,
            "dashboard/plan_form.html",
            plan=row,
            errors=[],
            values=plan_forms.plan_values(row),
            **_options(session, who),
        )


@router.post("/plans/{code}/edit")
async def update_plan(code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await _form(request, who)
    if data is None:
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = plan_service.find(session, organization_id=who.organization_id, code=code)
            row = plan_service.update(
                session,
                row=row,
                data=plan_forms.plan_input(
                    data, taxes=plan_forms.tax_codes(data["taxes"]), charges=None
                ),
                clock=clock(request),
            )
            new_code = row.code
    except NotFound as exc:
        if exc.resource == "plan":
            return _not_found(request, who, "plan")
        return _edit_again(request, who, code, data, exc)
    except DomainError as exc:
        return _edit_again(request, who, code, data, exc)
    return _to_plan(new_code, "Plan saved.")


def _edit_again(
    request: Request, who: auth.Operator, code: str, data: dict[str, str], exc: DomainError
) -> Response:
    with unit_of_work(request) as session:
        row = plan_service.find(session, organization_id=who.organization_id, code=code)
        return _plan_form_again(request, who, row, data, exc)


@router.post("/plans/{code}/delete")
async def delete_plan(code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = plan_service.find(session, organization_id=who.organization_id, code=code)
            plan_service.delete(session, row=row, clock=clock(request))
            # The same notice the API's DELETE /plans/{code} sends.
            enqueue(session, who.organization_id, "plan.deleted", "plan", row.id, clock(request))
    except NotFound:
        return _not_found(request, who, "plan")
    message = f"Plan {code} deleted."
    return RedirectResponse(f"/dashboard/plans?{urlencode({'message': message})}", status_code=303)
