"""The operator dashboard under /dashboard: one organization's data, behind its API key.

Every query is scoped to the signed-in organization; an object of another organization
answers 404 exactly as an unknown one does.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.api.http import clock, settings, unit_of_work
from meterly.api.schemas.usage import customer_usage
from meterly.domain.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from meterly.domain.money import currency as find_currency
from meterly.services import analytics, billing, ingest, portal, webhooks
from meterly.services import billable_metrics as metric_service
from meterly.services import customers as customer_service
from meterly.services import invoices as invoice_service
from meterly.services import plans as plan_service
from meterly.services import subscriptions as subscription_service
from meterly.store.tables import BillableMetricRow, Customer, Invoice, Subscription
from meterly.web import auth
from meterly.web.links import invoice_pdf_url
from meterly.web.templating import render

router = APIRouter(prefix="/dashboard", include_in_schema=False)

PER_PAGE = 50
INVOICE_STATUSES = ("draft", "finalized", "voided", "failed")
AGGREGATIONS = (
    "count_agg",
    "sum_agg",
    "max_agg",
    "unique_count_agg",
    "latest_agg",
    "weighted_sum_agg",
)
INTERVALS = plan_service.INTERVALS


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/dashboard/login?{urlencode({'next': target})}", status_code=303)


def _page(request: Request, who: auth.Operator, name: str, **context: Any) -> Response:
    return render(name, who=who, path=request.url.path, **context)


def _not_found(request: Request, who: auth.Operator, what: str) -> Response:
    return render("dashboard/not_found.html", status_code=404, who=who, path="", what=what)


def _int(value: str | None, default: int = 1) -> int:
    try:
        return max(int(value or default), 1)
    except ValueError:
        return default


# --- sign in ---------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request) -> Response:
    return render("dashboard/login.html", error=None, next=request.query_params.get("next", ""))


@router.post("/login")
async def login(request: Request) -> Response:
    data = await auth.form(request)
    cookie = auth.sign_in(request, data.get("api_key", ""))
    target = data.get("next") or "/dashboard"
    if not target.startswith("/dashboard"):
        target = "/dashboard"
    if cookie is None:
        return render(
            "dashboard/login.html", status_code=401, error="This API key is not valid.", next=target
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        auth.COOKIE,
        cookie,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/dashboard",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/dashboard")
    return response


# --- overview and analytics ------------------------------------------------------------


def _scope(request: Request, session: Session, who: auth.Operator) -> analytics.Scope:
    from meterly.store.tables import Organization

    org = session.get(Organization, who.organization_id)
    wanted = (request.query_params.get("currency") or "").upper()
    cur = wanted if wanted else (org.default_currency if org else "USD")
    return analytics.Scope(
        organization_id=who.organization_id,
        now=clock(request).now(),
        currency=cur,
        months=min(_int(request.query_params.get("months"), 12), 36),
    )


def _chart_data(
    session: Session,
    scope: analytics.Scope,
    mrr: list[analytics.MonthRow],
    gross: list[analytics.MonthRow],
) -> dict[str, Any]:
    exponent = find_currency(scope.currency or "USD").exponent
    scale = Decimal(10) ** exponent
    months = [m.strftime("%Y-%m") for m in scope.month_range()]

    def major(cents: int) -> float:
        return float(Decimal(cents) / scale)

    usage_rows = analytics.invoiced_usage(session, scope)
    by_code: dict[str, dict[str, int]] = defaultdict(dict)
    units_by_code: dict[str, dict[str, float]] = defaultdict(dict)
    for row in usage_rows:
        key = row.month.strftime("%Y-%m")
        code = row.code or "—"
        by_code[code][key] = by_code[code].get(key, 0) + row.amount_cents
        units_by_code[code][key] = units_by_code[code].get(key, 0.0) + float(row.units)
    return {
        "currency": scope.currency,
        "months": months,
        "mrr": [major(r.amount_cents) for r in mrr],
        "gross_revenue": [major(r.amount_cents) for r in gross],
        "invoices_count": [r.invoices_count for r in gross],
        "invoiced_usage": [
            {"code": code, "values": [major(values.get(m, 0)) for m in months]}
            for code, values in sorted(by_code.items())
        ],
        "usage_trends": [
            {"code": code, "values": [values.get(m, 0.0) for m in months]}
            for code, values in sorted(units_by_code.items())
        ],
    }


@router.get("")
def overview(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    with unit_of_work(request) as session:
        scope = _scope(request, session, who)
        all_mrr = analytics.mrr(session, scope)
        gross_rows = analytics.gross_revenue(session, scope)
        charts = _chart_data(session, scope, all_mrr, gross_rows)
        receivables = analytics.receivables(session, scope)
        top = analytics.top_customers(session, scope, limit=10)
        mrr_rows = [r for r in all_mrr if r.amount_cents] or [
            analytics.MonthRow(month=scope.month_range()[-1], currency=scope.currency or "USD")
        ]
        _, customers_total = customer_service.list_page(
            session, organization_id=who.organization_id, page=1, per_page=1
        )
        _, subs_total = subscription_service.list_page(
            session, organization_id=who.organization_id, page=1, per_page=1
        )
        return _page(
            request,
            who,
            "dashboard/overview.html",
            scope=scope,
            charts=charts,
            receivables=receivables,
            top=top,
            mrr_now=mrr_rows[-1].amount_cents,
            mrr_month=mrr_rows[-1].month,
            gross_total=sum(r.amount_cents for r in gross_rows),
            customers_total=customers_total,
            subscriptions_total=subs_total,
        )


# --- customers -------------------------------------------------------------------------


@router.get("/customers")
def customers(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    q = request.query_params.get("q", "").strip()
    page = _int(request.query_params.get("page"))
    with unit_of_work(request) as session:
        rows, total = customer_service.list_page(
            session,
            organization_id=who.organization_id,
            page=page,
            per_page=PER_PAGE,
            search_term=q or None,
        )
        return _page(
            request,
            who,
            "dashboard/customers.html",
            customers=rows,
            total=total,
            q=q,
            page=page,
            pages=max((total + PER_PAGE - 1) // PER_PAGE, 1),
        )


def _customer_subscriptions(
    session: Session, customer: Customer, request: Request
) -> list[dict[str, Any]]:
    now = clock(request).now()
    rows = session.scalars(
        select(Subscription)
        .where(Subscription.customer_id == customer.id)
        .order_by(Subscription.created_at.desc())
    )
    result: list[dict[str, Any]] = []
    for sub in rows:
        usage: dict[str, Any] | None = None
        if sub.status == "active":
            try:
                found = portal.subscription_usage(
                    session, customer=customer, subscription=sub, now=now
                )
                usage = customer_usage(found.usage, ratio=found.ratio)
            except (NotAllowed, NotFound):
                usage = None
        result.append({"row": sub, "usage": usage})
    return result


@router.get("/customers/{external_id}")
def customer(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    config = settings(request)
    with unit_of_work(request) as session:
        try:
            row = customer_service.find(
                session, organization_id=who.organization_id, external_id=external_id
            )
        except NotFound:
            return _not_found(request, who, "customer")
        invoices, _ = invoice_service.list_page(
            session,
            organization_id=who.organization_id,
            page=1,
            per_page=100,
            filters=invoice_service.InvoiceFilters(external_customer_id=external_id),
        )
        portal_link = portal.portal_url(
            session,
            organization_id=who.organization_id,
            external_customer_id=external_id,
            secret_key=config.secret_key,
            public_url=str(request.base_url),
            now=clock(request).now(),
        )
        return _page(
            request,
            who,
            "dashboard/customer.html",
            customer=row,
            subscriptions=_customer_subscriptions(session, row, request),
            invoices=invoices,
            wallets=portal.wallet_balances(session, row),
            portal_link=portal_link,
        )


# --- plans and metrics -----------------------------------------------------------------


@router.get("/plans")
def plans(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    with unit_of_work(request) as session:
        rows, total = plan_service.list_page(
            session, organization_id=who.organization_id, page=1, per_page=200
        )
        counts = {r.id: plan_service.counters(session, r.id) for r in rows}
        return _page(request, who, "dashboard/plans.html", plans=rows, total=total, counts=counts)


def _metrics(session: Session, who: auth.Operator) -> list[BillableMetricRow]:
    rows, _ = metric_service.list_page(
        session, organization_id=who.organization_id, page=1, per_page=500
    )
    return rows


@router.get("/plans/new")
def plan_form(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    with unit_of_work(request) as session:
        return _page(
            request,
            who,
            "dashboard/plan_form.html",
            metrics=_metrics(session, who),
            intervals=INTERVALS,
            errors={},
            values={"interval": "monthly", "currency": "USD", "charge_model": "standard"},
        )


def _cents(text: str, code: str) -> int:
    exponent = find_currency(code or "USD").exponent
    try:
        value = Decimal(text.strip() or "0")
    except InvalidOperation:
        raise ValidationFailed.field("amount", "value_is_invalid") from None
    return int((value * (Decimal(10) ** exponent)).to_integral_value())


def _plan_input(data: dict[str, str], metric_ids: dict[str, str]) -> plan_service.PlanInput:
    cur = (data.get("currency") or "USD").upper()
    charges: list[plan_service.ChargeInput] = []
    metric_code = data.get("metric_code", "")
    if metric_code:
        if metric_code not in metric_ids:
            raise ValidationFailed.field("metric_code", "value_is_invalid")
        model = data.get("charge_model") or "standard"
        price = data.get("unit_price") or "0"
        properties: dict[str, Any] = {"amount": price}
        if model == "package":
            properties = {
                "amount": price,
                "package_size": _int(data.get("package_size"), 1),
                "free_units": 0,
            }
        charges.append(
            plan_service.ChargeInput(
                billable_metric_id=metric_ids[metric_code],
                charge_model=model,
                properties=properties,
            )
        )
    return plan_service.PlanInput(
        name=data.get("name") or None,
        code=data.get("code") or None,
        interval=data.get("interval") or None,
        amount_cents=_cents(data.get("amount", "0"), cur),
        amount_currency=cur,
        pay_in_advance=data.get("pay_in_advance") == "on",
        description=data.get("description") or None,
        charges=tuple(charges),
    )


@router.post("/plans/new")
async def create_plan(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            metrics = _metrics(session, who)
            row = plan_service.create(
                session,
                organization_id=who.organization_id,
                data=_plan_input(data, {m.code: m.id for m in metrics}),
                clock=clock(request),
            )
            code = row.code
    except ValidationFailed as exc:
        with unit_of_work(request) as session:
            return _page(
                request,
                who,
                "dashboard/plan_form.html",
                status_code=422,
                metrics=_metrics(session, who),
                intervals=INTERVALS,
                errors=exc.details,
                values=data,
            )
    return RedirectResponse(f"/dashboard/plans/{code}", status_code=303)


@router.get("/plans/{code}")
def plan(code: str, request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
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
        )


@router.get("/metrics")
def metrics(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    with unit_of_work(request) as session:
        return _page(request, who, "dashboard/metrics.html", metrics=_metrics(session, who))


@router.get("/metrics/new")
def metric_form(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    return _page(
        request,
        who,
        "dashboard/metric_form.html",
        aggregations=AGGREGATIONS,
        errors={},
        values={"aggregation_type": "count_agg"},
    )


def _metric_input(data: dict[str, str]) -> metric_service.MetricInput:
    fields: dict[str, Any] = {
        "name": data.get("name") or None,
        "code": data.get("code") or None,
        "description": data.get("description") or None,
        "aggregation_type": data.get("aggregation_type") or None,
        "field_name": data.get("field_name") or None,
        "recurring": data.get("recurring") == "on",
    }
    return metric_service.MetricInput(**fields, sent=frozenset(fields))


@router.post("/metrics/new")
async def create_metric(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            metric_service.create(
                session,
                organization_id=who.organization_id,
                data=_metric_input(data),
                clock=clock(request),
            )
    except ValidationFailed as exc:
        return _page(
            request,
            who,
            "dashboard/metric_form.html",
            status_code=422,
            aggregations=AGGREGATIONS,
            errors=exc.details,
            values=data,
        )
    return RedirectResponse("/dashboard/metrics", status_code=303)


# --- invoices --------------------------------------------------------------------------


@router.get("/invoices")
def invoices(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    status = request.query_params.get("status", "")
    customer_id = request.query_params.get("customer", "").strip()
    page = _int(request.query_params.get("page"))
    filters = invoice_service.InvoiceFilters(
        statuses=(status,) if status in INVOICE_STATUSES else (),
        external_customer_id=customer_id or None,
    )
    with unit_of_work(request) as session:
        rows, total = invoice_service.list_page(
            session,
            organization_id=who.organization_id,
            page=page,
            per_page=PER_PAGE,
            filters=filters,
        )
        names = _customer_names(session, rows)
        return _page(
            request,
            who,
            "dashboard/invoices.html",
            invoices=rows,
            names=names,
            total=total,
            status=status,
            statuses=INVOICE_STATUSES,
            customer=customer_id,
            page=page,
            pages=max((total + PER_PAGE - 1) // PER_PAGE, 1),
        )


def _customer_names(session: Session, rows: list[Invoice]) -> dict[str, Customer]:
    ids = {r.customer_id for r in rows}
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}


def _invoice(session: Session, who: auth.Operator, invoice_id: str) -> Invoice:
    return invoice_service.find(session, organization_id=who.organization_id, invoice_id=invoice_id)


@router.get("/invoices/{invoice_id}")
def invoice(invoice_id: str, request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    with unit_of_work(request) as session:
        try:
            row = _invoice(session, who, invoice_id)
        except NotFound:
            return _not_found(request, who, "invoice")
        pdf_url = (
            invoice_pdf_url(settings(request), row.id)
            if row.status in ("finalized", "voided")
            else None
        )
        return _page(
            request,
            who,
            "dashboard/invoice.html",
            invoice=row,
            customer=session.get(Customer, row.customer_id),
            pdf_url=pdf_url,
            message=request.query_params.get("message"),
        )


@router.post("/invoices/{invoice_id}/{action}")
async def invoice_action(invoice_id: str, action: str, request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    data = await auth.form(request)
    if not auth.csrf_ok(who, data) or action not in ("finalize", "void"):
        return Response("Invalid form", status_code=400)
    message = {"finalize": "Invoice finalized.", "void": "Invoice voided."}[action]
    try:
        with unit_of_work(request) as session:
            row = _invoice(session, who, invoice_id)
            if action == "finalize":
                if row.status != "draft":
                    raise NotAllowed("invoice_not_draft")
                billing.refresh_draft(session, invoice=row, clock=clock(request))
                session.flush()
                session.refresh(row)
                billing.finalize(session, invoice=row, clock=clock(request))
            else:
                invoice_service.void(session, invoice=row, clock=clock(request))
    except NotFound:
        return _not_found(request, who, "invoice")
    except DomainError as exc:
        message = f"Not done: {exc}"
    query = urlencode({"message": message})
    return RedirectResponse(f"/dashboard/invoices/{invoice_id}?{query}", status_code=303)


# --- events ----------------------------------------------------------------------------


def _event_problems(
    session: Session, who: auth.Operator, rows: list[dict[str, Any]]
) -> dict[str, str]:
    """Why an accepted event will not be billed (Lago's "events with errors")."""
    codes = {r["code"] for r in rows}
    subs = {r["external_subscription_id"] for r in rows}
    metrics = {
        m.code: m
        for m in session.scalars(
            select(BillableMetricRow).where(
                BillableMetricRow.organization_id == who.organization_id,
                BillableMetricRow.code.in_(codes),
                BillableMetricRow.deleted_at.is_(None),
            )
        )
    }
    known_subs = set(
        session.scalars(
            select(Subscription.external_id).where(
                Subscription.organization_id == who.organization_id,
                Subscription.external_id.in_(subs),
            )
        )
    )
    problems: dict[str, str] = {}
    for r in rows:
        metric = metrics.get(r["code"])
        key = f"{r['transaction_id']}|{r['external_subscription_id']}"
        if metric is None:
            problems[key] = "no billable metric with this code"
        elif r["external_subscription_id"] not in known_subs:
            problems[key] = "no subscription with this external id"
        elif metric.field_name and metric.aggregation_type not in ("count_agg",):
            value = (r.get("properties") or {}).get(metric.field_name)
            if value is None:
                problems[key] = f"property '{metric.field_name}' is missing"
    return problems


@router.get("/events")
def events(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    params = request.query_params
    customer_id = params.get("customer", "").strip()
    sub_id = params.get("subscription", "").strip()
    code = params.get("code", "").strip()
    transaction_id = params.get("transaction_id", "").strip()
    only_problems = params.get("problems") == "1"
    with unit_of_work(request) as session:
        rows: list[dict[str, Any]] = []
        if transaction_id:
            try:
                rows = [
                    ingest.find(
                        session, organization_id=who.organization_id, transaction_id=transaction_id
                    )
                ]
            except NotFound:
                rows = []
        elif customer_id:
            external_ids = list(
                session.scalars(
                    select(Subscription.external_id)
                    .join(Customer, Customer.id == Subscription.customer_id)
                    .where(
                        Customer.organization_id == who.organization_id,
                        Customer.external_id == customer_id,
                    )
                    .distinct()
                )
            )
            for external_id in external_ids:
                if sub_id and external_id != sub_id:
                    continue
                found, _ = ingest.list_page(
                    session,
                    organization_id=who.organization_id,
                    page=1,
                    per_page=PER_PAGE,
                    code=code or None,
                    external_subscription_id=external_id,
                )
                rows.extend(found)
            rows.sort(key=lambda r: r["timestamp"], reverse=True)
            rows = rows[:PER_PAGE]
        else:
            rows, _ = ingest.list_page(
                session,
                organization_id=who.organization_id,
                page=1,
                per_page=PER_PAGE * (4 if only_problems else 1),
                code=code or None,
                external_subscription_id=sub_id or None,
            )
        problems = _event_problems(session, who, rows) if rows else {}
        if only_problems:
            rows = [
                r
                for r in rows
                if f"{r['transaction_id']}|{r['external_subscription_id']}" in problems
            ]
        return _page(
            request,
            who,
            "dashboard/events.html",
            events=rows,
            problems=problems,
            filters={
                "customer": customer_id,
                "subscription": sub_id,
                "code": code,
                "transaction_id": transaction_id,
                "problems": only_problems,
            },
        )


# --- webhooks --------------------------------------------------------------------------


@router.get("/webhooks")
def webhook_deliveries(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    status = request.query_params.get("status", "")
    with unit_of_work(request) as session:
        try:
            rows, total = webhooks.list_deliveries(
                session,
                organization_id=who.organization_id,
                status=status or None,
                page=1,
                per_page=PER_PAGE,
            )
        except ValidationFailed:
            rows, total, status = [], 0, ""
        urls = webhooks.endpoint_urls(session, {r.webhook_endpoint_id for r in rows})
        return _page(
            request,
            who,
            "dashboard/webhooks.html",
            deliveries=rows,
            total=total,
            status=status,
            statuses=webhooks.STATUSES,
            urls=urls,
            now=clock(request).now(),
            stale=timedelta(minutes=5),
        )
