"""The dashboard, the portal and the hosted payment page send security headers (issue 20.11).

Every page family gets a Content-Security-Policy that forbids framing and inline scripts,
X-Frame-Options, Referrer-Policy and nosniff; HSTS only when the request came over HTTPS
(the ASGI scheme, or X-Forwarded-Proto from a trusted proxy). The payment page widens its
policy to the origin of the organization's Stripe connection (`api_base`), and nothing
else. The API itself is left alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from meterly.services.payments import links
from meterly.web import install_web
from tests.e2e.test_dashboard import sign_in

STAND_IN = "http://127.0.0.1:12111"  # a Stripe stand-in's base (nothing listens: not called)


@pytest.fixture
def web(api: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    # The one address TestClient requests come from is a trusted proxy in these tests.
    monkeypatch.setenv("METERLY_TRUSTED_PROXIES", "testclient")
    install_web(api.client.app)
    return api


def directives(response: Any) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    pairs = (part.strip().partition(" ") for part in policy.split(";"))
    return {name: value for name, _, value in pairs}


def assert_page_headers(response: Any) -> dict[str, str]:
    csp = directives(response)
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert "'unsafe-inline'" not in csp["script-src"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in response.headers  # plain HTTP
    return csp


def test_dashboard_pages_send_the_headers(web: Any) -> None:
    login = web.client.get("/dashboard/login")
    assert login.status_code == 200
    assert directives(login)["script-src"] == "'self'"
    assert_page_headers(login)
    sign_in(web)
    overview = web.client.get("/dashboard")
    assert overview.status_code == 200
    assert assert_page_headers(overview)["script-src"] == "'self'"
    # A redirect (signed out) carries them too.
    signed_out = TestClient(web.client.app).get("/dashboard/customers", follow_redirects=False)
    assert signed_out.status_code == 303
    assert_page_headers(signed_out)


def test_portal_page_and_its_not_found_page_send_the_headers(web: Any) -> None:
    assert web.post("customers", {"customer": {"external_id": "c1"}}).status_code == 200
    url = web.get("customers/c1/portal_url").json()["customer"]["portal_url"]
    path = "/portal/" + url.split("/portal/", 1)[1]
    portal = web.client.get(path)
    assert portal.status_code == 200
    assert_page_headers(portal)
    assert_page_headers(web.client.get("/portal/not-a-token"))


def test_static_files_are_not_sniffed(web: Any) -> None:
    script = web.client.get("/static/pay.js")
    assert script.status_code == 200
    assert script.headers["x-content-type-options"] == "nosniff"


def stripe_customer(api: Any, api_base: str | None) -> str:
    connection: dict[str, Any] = {"code": "stripe_main", "secret_key": "sk_test_x"}
    if api_base:
        connection["api_base"] = api_base
    answer = api.put("payment_providers/stripe", {"payment_provider": connection})
    assert answer.status_code == 200, answer.text
    billing = {"payment_provider": "stripe", "provider_customer_id": "cus_1"}
    body = {"external_id": "payer", "currency": "USD", "billing_configuration": billing}
    created = api.post("customers", {"customer": body})
    assert created.status_code == 200, created.text
    return str(created.json()["customer"]["lago_id"])


def pay_page(api: Any, customer_id: str) -> Any:
    app = api.client.app
    token = links.issue(
        app.state.settings.signing_key,
        organization_id=api.org_id,
        customer_id=customer_id,
        invoice_id=None,
        now=app.state.clock.now(),
    )
    return api.client.get(f"/pay/{token}")


def test_payment_page_allows_the_stripe_stand_in_of_the_connection(web: Any) -> None:
    page = pay_page(web, stripe_customer(web, STAND_IN))
    assert page.status_code == 200, page.text
    csp = assert_page_headers(page)
    # The stand-in serves the script from its own base and answers its calls there.
    assert f'<script src="{STAND_IN}/js.stripe.com/v3/">' in page.text
    assert csp["script-src"] == f"'self' {STAND_IN}"
    assert csp["connect-src"] == f"'self' {STAND_IN}"
    assert "<script>" not in page.text  # no inline script: the page's code is /static/pay.js


def test_payment_page_allows_stripe_itself_without_an_api_base(web: Any) -> None:
    page = pay_page(web, stripe_customer(web, None))
    assert page.status_code == 200, page.text
    csp = assert_page_headers(page)
    assert csp["script-src"] == "'self' https://js.stripe.com"
    assert csp["connect-src"] == "'self' https://api.stripe.com"
    assert csp["frame-src"] == "https://js.stripe.com https://hooks.stripe.com"


def test_an_invalid_payment_link_sends_the_headers(web: Any) -> None:
    gone = web.client.get("/pay/forged.token")
    assert gone.status_code == 404
    assert directives(gone)["script-src"] == "'self'"
    assert_page_headers(gone)


def test_hsts_only_over_https(web: Any) -> None:
    secure = TestClient(web.client.app, base_url="https://testserver")
    assert (
        secure.get("/dashboard/login").headers["strict-transport-security"].startswith("max-age=")
    )
    forwarded = {"X-Forwarded-Proto": "https"}
    trusted = web.client.get("/dashboard/login", headers=forwarded)
    assert "strict-transport-security" in trusted.headers
    plain = web.client.get("/dashboard/login", headers={"X-Forwarded-Proto": "http"})
    assert "strict-transport-security" not in plain.headers


def test_x_forwarded_proto_from_an_untrusted_address_is_ignored(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METERLY_TRUSTED_PROXIES", "10.0.0.1")
    install_web(api.client.app)
    page = api.client.get("/dashboard/login", headers={"X-Forwarded-Proto": "https"})
    assert page.status_code == 200
    assert "strict-transport-security" not in page.headers


def test_the_api_answers_without_page_headers(web: Any) -> None:
    answer = web.get("customers")
    assert answer.status_code == 200
    assert "content-security-policy" not in answer.headers
