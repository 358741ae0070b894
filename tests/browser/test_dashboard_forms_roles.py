"""Who may post the dashboard's forms, enforced by the server (on both backends).

The rule: customers, subscriptions and add-ons are an admin's; coupons, wallets, credit
notes and one-off invoices are finance's too; a viewer changes nothing.
"""

from __future__ import annotations

import pytest

from tests.conftest import ApiClient
from tests.operators.conftest import dash  # noqa: F401  (the fixture)
from tests.operators.test_roles import concrete, dashboard_posts, signed_in

ADMIN_ONLY = (
    "/dashboard/customers/new",
    "/dashboard/customers/{external_id}/edit",
    "/dashboard/customers/{external_id}/delete",
    "/dashboard/customers/{external_id}/subscriptions/new",
    "/dashboard/subscriptions/{external_id}/plan",
    "/dashboard/subscriptions/{external_id}/terminate",
    "/dashboard/add_ons/new",
)
FINANCE_TOO = (
    "/dashboard/coupons/new",
    "/dashboard/customers/{external_id}/applied_coupons",
    "/dashboard/customers/{external_id}/applied_coupons/{applied_coupon_id}/terminate",
    "/dashboard/customers/{external_id}/wallets/new",
    "/dashboard/wallets/{wallet_id}/top_up",
    "/dashboard/wallets/{wallet_id}/void",
    "/dashboard/wallets/{wallet_id}/rules",
    "/dashboard/wallets/{wallet_id}/rules/{rule_id}/remove",
    "/dashboard/wallets/{wallet_id}/terminate",
    "/dashboard/invoices/{invoice_id}/credit_notes/new",
    "/dashboard/customers/{external_id}/one_off_invoices/new",
)

pytestmark = pytest.mark.browser


def test_every_form_route_is_registered(dash: ApiClient) -> None:  # noqa: F811
    assert set(ADMIN_ONLY + FINANCE_TOO) <= set(dashboard_posts(dash))


def test_a_viewer_gets_403_on_every_form(dash: ApiClient) -> None:  # noqa: F811
    client, token = signed_in(dash, "viewer@acme.test", "viewer")
    for path in ADMIN_ONLY + FINANCE_TOO:
        response = client.post(concrete(path), data={"csrf": token}, follow_redirects=False)
        assert response.status_code == 403, path
    # The pages still read, without their forms.
    coupons = client.get("/dashboard/coupons")
    assert coupons.status_code == 200
    assert 'id="coupon-form"' not in coupons.text
    assert client.get("/dashboard/subscriptions").status_code == 200
    assert client.get("/dashboard/add_ons").status_code == 200
    assert client.get("/dashboard/credit_notes").status_code == 200
    # The pages that are only a form are not shown to whoever may not send it.
    for path in ("/dashboard/customers/new", "/dashboard/invoices/x/credit_notes/new"):
        assert client.get(path).status_code == 403, path


def test_finance_may_post_the_finance_forms_but_not_the_admin_ones(
    dash: ApiClient,  # noqa: F811
) -> None:
    client, token = signed_in(dash, "finance@acme.test", "finance")
    for path in ADMIN_ONLY:
        response = client.post(concrete(path), data={"csrf": token}, follow_redirects=False)
        assert response.status_code == 403, path
    for path in FINANCE_TOO:
        # Past the role check: the unknown object is a 404, the empty form a 422.
        response = client.post(concrete(path), data={"csrf": token}, follow_redirects=False)
        assert response.status_code in (404, 422), (path, response.status_code)
    assert client.get("/dashboard/customers/new").status_code == 403
    assert client.get("/dashboard/customers/x/one_off_invoices/new").status_code == 404
    created = client.post(
        "/dashboard/coupons/new",
        data={
            "csrf": token,
            "name": "Loyalty",
            "code": "loyalty",
            "coupon_type": "percentage",
            "percentage_rate": "15",
            "frequency": "forever",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    assert dash.get("coupons/loyalty").json()["coupon"]["percentage_rate"] == "15.0"
