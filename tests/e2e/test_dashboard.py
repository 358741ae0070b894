"""The operator dashboard over HTTP, on both backends: sign-in, pages, forms, isolation."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from meterly.services import runs
from meterly.services.accounts import create_organization, revoke_api_key
from meterly.services.common import FrozenClock
from meterly.web import install_web
from meterly.web.auth import COOKIE
from meterly.web.templating import money
from tests.conftest import ApiClient
from tests.e2e.test_portal import seed_usage

FEB = datetime(2024, 2, 1, 1, tzinfo=UTC)


@pytest.fixture
def dash(api: Any) -> Any:
    install_web(api.client.app)
    seed_usage(api)
    runs.run(api.database, as_of=FEB, clock=FrozenClock(FEB))
    api.client.app.state.clock.set(datetime(2024, 2, 10, 12, tzinfo=UTC))
    return api


def sign_in(api: Any, key: str | None = None) -> Any:
    response = api.client.post(
        "/dashboard/login", data={"api_key": key or api.key}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return response


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_pages_need_a_sign_in(dash: Any) -> None:
    for path in ("/dashboard", "/dashboard/customers", "/dashboard/invoices"):
        response = dash.client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/dashboard/login?next=")


def test_a_wrong_key_is_refused(dash: Any) -> None:
    response = dash.client.post("/dashboard/login", data={"api_key": "mtr_wrong"})
    assert response.status_code == 401
    assert "not valid" in response.text
    assert COOKIE not in response.cookies


def test_sign_in_sets_an_httponly_signed_cookie(dash: Any) -> None:
    response = sign_in(dash)
    header = response.headers["set-cookie"]
    assert header.startswith(f"{COOKIE}=")
    assert "HttpOnly" in header and "samesite=lax" in header.lower()
    assert dash.key not in header
    assert dash.client.get("/dashboard").status_code == 200


def test_a_tampered_cookie_signs_out(dash: Any) -> None:
    sign_in(dash)
    value = dash.client.cookies.get(COOKIE)
    dash.client.cookies.set(COOKIE, value[:-3] + "abc", path="/dashboard")
    assert dash.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(dash: Any) -> None:
    clock = dash.client.app.state.clock
    with dash.database.unit_of_work() as session:
        from meterly.services.accounts import create_api_key

        issued = create_api_key(session, organization_id=dash.org_id, clock=clock)
    sign_in(dash, issued.secret)
    assert dash.client.get("/dashboard", follow_redirects=False).status_code == 200
    with dash.database.unit_of_work() as session:
        revoke_api_key(session, key_id=issued.id, clock=clock)
    assert dash.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_overview_shows_revenue_and_charts(dash: Any) -> None:
    sign_in(dash)
    html = dash.client.get("/dashboard").text
    gross = dash.get("analytics/gross_revenue?months=12").json()["gross_revenues"]
    total = sum(r["amount_cents"] for r in gross)
    assert f'id="kpi-gross" data-cents="{total}"' in html
    assert 'id="chart-mrr"' in html and "/static/vendor/chart.umd.min.js" in html
    assert "Acme Corp" in html  # top customers
    assert dash.client.get("/static/vendor/chart.umd.min.js").status_code == 200


def test_customers_search_and_detail(dash: Any) -> None:
    sign_in(dash)
    found = dash.client.get("/dashboard/customers?q=acme").text
    assert "cust_acme" in found
    assert "cust_acme" not in dash.client.get("/dashboard/customers?q=zzz").text
    page = dash.client.get("/dashboard/customers/cust_acme")
    assert page.status_code == 200
    usage = dash.get(
        "customers/cust_acme/current_usage?external_subscription_id=sub_cust_acme"
    ).json()["customer_usage"]
    assert f'data-cents="{usage["amount_cents"]}"' in page.text
    assert 'id="portal-link" href="http://testserver/portal/' in page.text
    invoice = dash.get("invoices?external_customer_id=cust_acme").json()["invoices"][0]
    assert invoice["number"] in page.text


def test_another_organizations_objects_are_404(dash: Any) -> None:
    clock = dash.client.app.state.clock
    with dash.database.unit_of_work() as session:
        other, key = create_organization(session, name="Other", clock=clock)
    other_api = ApiClient(dash.client, key.secret, other.id, dash.database)
    other_api.post("customers", {"customer": {"external_id": "cust_other", "name": "Globex"}})
    sign_in(dash)
    assert dash.client.get("/dashboard/customers/cust_other").status_code == 404
    assert "Globex" not in dash.client.get("/dashboard/customers").text
    invoice_id = dash.get("invoices").json()["invoices"][0]["lago_id"]
    sign_in(dash, key.secret)
    assert dash.client.get(f"/dashboard/invoices/{invoice_id}").status_code == 404
    assert "Acme" not in dash.client.get("/dashboard/customers").text
    assert "Acme" not in dash.client.get("/dashboard").text
    assert "sub_cust_acme" not in dash.client.get("/dashboard/events").text


def test_invoices_filter_open_pdf_and_void(dash: Any) -> None:
    sign_in(dash)
    invoice = dash.get("invoices?status=finalized").json()["invoices"][0]
    listing = dash.client.get("/dashboard/invoices?status=finalized").text
    assert invoice["number"] in listing
    assert 'data-status="draft"' not in listing
    page = dash.client.get(f"/dashboard/invoices/{invoice['lago_id']}").text
    assert money(invoice["total_amount_cents"], "USD") in page
    pdf = re.search(r'id="invoice-pdf" href="([^"]+)"', page)
    assert pdf
    response = dash.client.get(pdf.group(1).replace("&amp;", "&").split("3000", 1)[1])
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    # Without the form token nothing happens; with it the invoice is voided.
    url = f"/dashboard/invoices/{invoice['lago_id']}/void"
    assert dash.client.post(url, data={"csrf": "nope"}).status_code == 400
    done = dash.client.post(url, data={"csrf": csrf(page)})
    assert done.status_code == 200 and "Invoice voided." in done.text
    assert dash.get(f"invoices/{invoice['lago_id']}").json()["invoice"]["status"] == "voided"


def test_finalize_a_draft(dash: Any) -> None:
    with dash.database.unit_of_work() as session:
        from meterly.store.tables import Organization

        org = session.get(Organization, dash.org_id)
        org.invoice_grace_period = 3
    march = datetime(2024, 3, 1, 1, tzinfo=UTC)
    runs.run(dash.database, as_of=march, clock=FrozenClock(march))
    dash.client.app.state.clock.set(datetime(2024, 3, 2, tzinfo=UTC))
    drafts = dash.get("invoices?status=draft").json()["invoices"]
    if not drafts:
        pytest.skip("the billing engine finalized at once (no grace period support)")
    sign_in(dash)
    page = dash.client.get(f"/dashboard/invoices/{drafts[0]['lago_id']}").text
    assert 'id="finalize"' in page
    done = dash.client.post(
        f"/dashboard/invoices/{drafts[0]['lago_id']}/finalize", data={"csrf": csrf(page)}
    )
    assert "Invoice finalized." in done.text
    assert dash.get(f"invoices/{drafts[0]['lago_id']}").json()["invoice"]["status"] == "finalized"


def test_create_a_metric_and_a_plan_with_the_forms(dash: Any) -> None:
    sign_in(dash)
    token = csrf(dash.client.get("/dashboard/metrics/new").text)
    bad = dash.client.post(
        "/dashboard/metrics/new",
        data={"csrf": token, "name": "GPU", "code": "gpu", "aggregation_type": "sum_agg"},
    )
    assert bad.status_code == 422 and "field_name" in bad.text
    made = dash.client.post(
        "/dashboard/metrics/new",
        data={
            "csrf": token,
            "name": "GPU hours",
            "code": "gpu_hours",
            "aggregation_type": "sum_agg",
            "field_name": "hours",
        },
    )
    assert made.status_code == 200 and "gpu_hours" in made.text
    plan = dash.client.post(
        "/dashboard/plans/new",
        data={
            "csrf": token,
            "name": "GPU plan",
            "code": "gpu_plan",
            "interval": "monthly",
            "amount": "49.99",
            "currency": "USD",
            "metric_code": "gpu_hours",
            "charge_model": "standard",
            "unit_price": "1.25",
        },
    )
    assert plan.status_code == 200 and "GPU plan" in plan.text
    body = dash.get("plans/gpu_plan").json()["plan"]
    assert body["amount_cents"] == 4999
    assert body["charges"][0]["billable_metric_code"] == "gpu_hours"
    assert body["charges"][0]["properties"]["amount"] == "1.25"


def test_events_explorer_searches_and_flags_unbillable_events(dash: Any) -> None:
    stray = {
        "transaction_id": "stray-1",
        "external_subscription_id": "sub_cust_acme",
        "code": "no_such_metric",
    }
    assert dash.post("events", {"event": stray}).status_code == 200
    sign_in(dash)
    latest = dash.client.get("/dashboard/events").text
    assert "stray-1" in latest and "unknown metric" in latest
    by_tx = dash.client.get("/dashboard/events?transaction_id=cust_acme-gb-eu").text
    assert "cust_acme-gb-eu" in by_tx and "cust_acme-call-1<" not in by_tx
    by_code = dash.client.get("/dashboard/events?code=storage_gb&customer=cust_acme").text
    assert "cust_acme-gb-us" in by_code and "cust_acme-call-" not in by_code
    problems = dash.client.get("/dashboard/events?problems=1").text
    assert "stray-1" in problems and "cust_acme-gb-eu" not in problems


def test_plans_metrics_and_webhooks_pages(dash: Any) -> None:
    sign_in(dash)
    assert "startup" in dash.client.get("/dashboard/plans").text
    assert "graduated" in dash.client.get("/dashboard/plans/startup").text
    assert "storage_gb" in dash.client.get("/dashboard/metrics").text
    assert dash.client.get("/dashboard/plans/nope").status_code == 404
    assert dash.client.get("/dashboard/webhooks").status_code == 200
    assert dash.client.get("/dashboard/webhooks?status=failed").status_code == 200


def test_sign_out(dash: Any) -> None:
    sign_in(dash)
    out = dash.client.post("/dashboard/logout", follow_redirects=False)
    assert out.status_code == 303
    assert dash.client.get("/dashboard", follow_redirects=False).status_code == 303
