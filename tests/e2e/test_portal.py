"""The customer portal over HTTP, on both backends: signed links and the figures shown.

A plan with a graduated API-calls charge and a storage charge filtered by region; the
clock stands at 2024-01-15 12:00 UTC, the subscription started on 2024-01-01.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from meterly.services import runs
from meterly.services.accounts import create_organization
from meterly.services.analytics import issue_token
from meterly.services.common import FrozenClock
from meterly.web import install_web


def money(cents: int, code: str) -> str:
    """English (the portal's default language) as Babel writes USD: `$1,234.50`."""
    assert code == "USD"
    return f"${cents / 100:,.2f}"


def ts(day: int, hour: int = 12, month: int = 1) -> str:
    return str(int(datetime(2024, month, day, hour, tzinfo=UTC).timestamp()))


def seed_usage(api: Any, *, customer: str = "cust_acme", name: str = "Acme Corp") -> None:
    """Metrics, a plan with graduated and filtered charges, a customer, a subscription."""
    calls = api.post(
        "billable_metrics",
        {
            "billable_metric": {
                "name": "API calls",
                "code": "api_calls",
                "aggregation_type": "count_agg",
            }
        },
    ).json()["billable_metric"]
    storage = api.post(
        "billable_metrics",
        {
            "billable_metric": {
                "name": "Storage",
                "code": "storage_gb",
                "aggregation_type": "sum_agg",
                "field_name": "gb",
                "filters": [{"key": "region", "values": ["eu", "us"]}],
            }
        },
    ).json()["billable_metric"]
    plan = api.post(
        "plans",
        {
            "plan": {
                "name": "Startup",
                "code": "startup",
                "interval": "monthly",
                "amount_cents": 1000,
                "amount_currency": "USD",
                "charges": [
                    {
                        "billable_metric_id": calls["lago_id"],
                        "charge_model": "graduated",
                        "properties": {
                            "graduated_ranges": [
                                {
                                    "from_value": 0,
                                    "to_value": 10,
                                    "per_unit_amount": "0",
                                    "flat_amount": "0",
                                },
                                {
                                    "from_value": 11,
                                    "to_value": None,
                                    "per_unit_amount": "0.5",
                                    "flat_amount": "1",
                                },
                            ]
                        },
                    },
                    {
                        "billable_metric_id": storage["lago_id"],
                        "charge_model": "standard",
                        "properties": {"amount": "0.05"},
                        "filters": [
                            {
                                "invoice_display_name": "Storage EU",
                                "properties": {"amount": "0.04"},
                                "values": {"region": ["eu"]},
                            }
                        ],
                    },
                ],
            }
        },
    )
    assert plan.status_code == 200, plan.text
    seed_customer(api, customer=customer, name=name)


def seed_customer(api: Any, *, customer: str, name: str, events: bool = True) -> None:
    created = api.post(
        "customers", {"customer": {"external_id": customer, "name": name, "currency": "USD"}}
    )
    assert created.status_code == 200, created.text
    sub = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": customer,
                "plan_code": "startup",
                "external_id": f"sub_{customer}",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        },
    )
    assert sub.status_code == 200, sub.text
    if not events:
        return
    batch = [
        {
            "transaction_id": f"{customer}-call-{i}",
            "external_subscription_id": f"sub_{customer}",
            "code": "api_calls",
            "timestamp": ts(2 + i % 13),
        }
        for i in range(25)
    ] + [
        {
            "transaction_id": f"{customer}-gb-{region}",
            "external_subscription_id": f"sub_{customer}",
            "code": "storage_gb",
            "timestamp": ts(5),
            "properties": {"gb": gb, "region": region},
        }
        for region, gb in (("eu", 300), ("us", 100))
    ]
    assert api.post("events/batch", {"events": batch}).status_code == 200


@pytest.fixture
def portal_api(api: Any) -> Any:
    install_web(api.client.app)
    seed_usage(api)
    return api


def link(api: Any, customer: str = "cust_acme") -> str:
    response = api.get(f"customers/{customer}/portal_url")
    assert response.status_code == 200, response.text
    url: str = response.json()["customer"]["portal_url"]
    return url


def path_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def test_portal_url_is_a_signed_link_under_the_public_url(portal_api: Any) -> None:
    body = portal_api.get("customers/cust_acme/portal_url").json()
    assert list(body) == ["customer"]
    url = body["customer"]["portal_url"]
    assert url.startswith("http://127.0.0.1:3000/portal/")
    token = url.rsplit("/", 1)[1]
    assert "." in token and len(token) > 40


def test_portal_url_of_an_unknown_customer_is_404(portal_api: Any) -> None:
    response = portal_api.get("customers/nobody/portal_url")
    assert response.status_code == 404
    assert response.json()["code"] == "customer_not_found"


def test_portal_url_needs_the_api_key(portal_api: Any) -> None:
    response = portal_api.client.get("/api/v1/customers/cust_acme/portal_url")
    assert response.status_code == 401


def test_portal_shows_the_usage_and_amounts_the_api_gives(portal_api: Any) -> None:
    page = portal_api.client.get(path_of(link(portal_api)))
    assert page.status_code == 200
    html = page.text
    usage = portal_api.get(
        "customers/cust_acme/projected_usage?external_subscription_id=sub_cust_acme"
    ).json()["customer_projected_usage"]
    assert "Acme Corp" in html
    # 25 calls: 15 above the free 10 at 0.50 plus 1.00 flat = 8.50; storage 300 x 0.04 + 100 x 0.05.
    assert usage["amount_cents"] == 850 + 1200 + 500
    assert f'data-cents="{usage["amount_cents"]}">{money(usage["amount_cents"], "USD")}<' in html
    assert money(usage["projected_amount_cents"], "USD") in html
    for charge in usage["charges_usage"]:
        assert money(charge["amount_cents"], "USD") in html
    assert "Storage EU" in html
    assert money(1200, "USD") in html and money(500, "USD") in html
    # The period in the customer's language (English by default), its timezone named.
    assert "Jan 1, 2024" in html and "Jan 31, 2024" in html and "Dates in UTC" in html


def test_usage_json_is_the_projected_usage_of_the_api(portal_api: Any) -> None:
    body = portal_api.client.get(path_of(link(portal_api)) + "/usage.json").json()
    api_usage = portal_api.get(
        "customers/cust_acme/projected_usage?external_subscription_id=sub_cust_acme"
    ).json()["customer_projected_usage"]
    (sub,) = body["subscriptions"]
    assert sub["external_id"] == "sub_cust_acme"
    assert sub["usage"] == api_usage


def test_daily_usage_adds_up_to_the_period_units(portal_api: Any) -> None:
    body = portal_api.client.get(path_of(link(portal_api)) + "/usage.json").json()
    daily = {d["code"]: d for d in body["subscriptions"][0]["daily"]}
    calls = daily["api_calls"]
    assert len(calls["days"]) == 31 and calls["days"][0] == "2024-01-01"
    assert sum(float(v) for v in calls["current"]) == 25
    assert float(calls["current"][1]) == 2  # Jan 2: events 0 and 13
    # Subscribed on 1 January: no previous period, so no comparison series at all.
    assert calls["previous"] is None
    assert sum(float(v) for v in daily["storage_gb"]["current"]) == 400
    assert daily["storage_gb"]["measure"] == "gb"


def test_an_event_moves_the_figures(portal_api: Any) -> None:
    url = path_of(link(portal_api)) + "/usage.json"
    before = portal_api.client.get(url).json()["subscriptions"][0]["usage"]["amount_cents"]
    event = {
        "transaction_id": "late-gb",
        "external_subscription_id": "sub_cust_acme",
        "code": "storage_gb",
        "timestamp": ts(15, 11),
        "properties": {"gb": 10, "region": "eu"},
    }
    assert portal_api.post("events", {"event": event}).status_code == 200
    after = portal_api.client.get(url).json()["subscriptions"][0]["usage"]["amount_cents"]
    assert after == before + 40


def test_previous_period_appears_in_the_daily_chart(portal_api: Any) -> None:
    clock: FrozenClock = portal_api.client.app.state.clock
    clock.set(datetime(2024, 2, 3, 12, tzinfo=UTC))
    body = portal_api.client.get(path_of(link(portal_api)) + "/usage.json").json()
    calls = {d["code"]: d for d in body["subscriptions"][0]["daily"]}["api_calls"]
    assert calls["days"][0] == "2024-02-01" and len(calls["days"]) == 29
    assert sum(float(v) for v in calls["previous"]) == 25


def test_past_invoices_are_listed_with_working_pdf_links(portal_api: Any) -> None:
    feb = datetime(2024, 2, 1, 1, tzinfo=UTC)
    runs.run(portal_api.database, as_of=feb, clock=FrozenClock(feb))
    clock: FrozenClock = portal_api.client.app.state.clock
    clock.set(datetime(2024, 2, 3, 12, tzinfo=UTC))
    invoices = portal_api.get("invoices?external_customer_id=cust_acme").json()["invoices"]
    issued = [i for i in invoices if i["status"] == "finalized"]
    assert issued
    html = portal_api.client.get(path_of(link(portal_api))).text
    for inv in issued:
        assert inv["number"] in html
        assert money(inv["total_amount_cents"], "USD") in html
    pdf_href = html.split('class="pdf" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    pdf = portal_api.client.get(path_of(pdf_href))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


# --- link security -----------------------------------------------------------------------


def _tamper(token: str) -> list[str]:
    body, signature = token.split(".", 1)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    org, customer, expiry = raw.split("|")
    longer = base64.urlsafe_b64encode(f"{org}|{customer}|{int(expiry) + 86400}".encode())
    return [
        f"{body}.{flipped}",
        f"{longer.rstrip(b'=').decode()}.{signature}",
        body,
        "not-a-token",
        f"{body}.",
        "a.b.c",
    ]


def test_a_tampered_or_malformed_link_is_404(portal_api: Any) -> None:
    token = link(portal_api).rsplit("/", 1)[1]
    for bad in _tamper(token):
        page = portal_api.client.get(f"/portal/{bad}")
        assert page.status_code == 404, bad
        assert "Acme" not in page.text
        assert portal_api.client.get(f"/portal/{bad}/usage.json").status_code == 404


def test_an_expired_link_is_404(portal_api: Any) -> None:
    path = path_of(link(portal_api))
    clock: FrozenClock = portal_api.client.app.state.clock
    clock.advance(timedelta(hours=11, minutes=59))
    assert portal_api.client.get(path).status_code == 200
    clock.advance(timedelta(minutes=2))
    assert portal_api.client.get(path).status_code == 404
    assert portal_api.client.get(path + "/usage.json").status_code == 404


def test_a_link_signed_with_another_secret_is_404(portal_api: Any) -> None:
    clock: FrozenClock = portal_api.client.app.state.clock
    good = link(portal_api).rsplit("/", 1)[1]
    body = base64.urlsafe_b64decode(good.split(".")[0] + "==").decode()
    org_id, customer_id, _ = body.split("|")
    forged = issue_token(
        "another-secret",
        organization_id=org_id,
        customer_id=customer_id,
        expires_at=clock.now() + timedelta(hours=1),
    )
    assert portal_api.client.get(f"/portal/{forged}").status_code == 404


def test_another_organizations_customer_is_404(portal_api: Any) -> None:
    clock: FrozenClock = portal_api.client.app.state.clock
    with portal_api.database.unit_of_work() as session:
        other, _key = create_organization(session, name="Other", clock=clock)
        other_id = other.id
    # The other organization's customer is invisible to this key...
    from tests.conftest import ApiClient

    with portal_api.database.unit_of_work() as session:
        from meterly.services.accounts import create_api_key

        issued = create_api_key(session, organization_id=other_id, clock=clock)
    other_api = ApiClient(portal_api.client, issued.secret, other_id, portal_api.database)
    other_api.post("customers", {"customer": {"external_id": "cust_other", "name": "Globex"}})
    assert portal_api.get("customers/cust_other/portal_url").status_code == 404
    # ...and a link naming it with this organization's id does not open it.
    with portal_api.database.sessions() as session:
        from meterly.services.accounts.customers import find

        customer_id = find(session, organization_id=other_id, external_id="cust_other").id
    settings = portal_api.client.app.state.settings
    crossed = issue_token(
        settings.signing_key,
        organization_id=portal_api.org_id,
        customer_id=customer_id,
        expires_at=clock.now() + timedelta(hours=1),
    )
    page = portal_api.client.get(f"/portal/{crossed}")
    assert page.status_code == 404
    assert "Globex" not in page.text
    # The other organization's own link works and shows only its customer.
    own = other_api.get("customers/cust_other/portal_url").json()["customer"]["portal_url"]
    page = portal_api.client.get(path_of(own))
    assert page.status_code == 200
    assert "Globex" in page.text and "Acme" not in page.text
