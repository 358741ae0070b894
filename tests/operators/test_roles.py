"""Roles are enforced by the server on every dashboard route, on both backends."""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute

from tests.conftest import ApiClient
from tests.operators.conftest import add_user, browser_for, csrf, sign_in

# Routes anyone may post to: signing in and out, accepting an invitation. Every other
# dashboard POST is a change, refused to a viewer.
PUBLIC_POSTS = {"/dashboard/login", "/dashboard/logout", "/dashboard/invitations/{token}"}
# Ending one's own sessions is allowed to every role.
SELF_SERVICE_POSTS = {"/dashboard/logout/everywhere"}


def _routes(api: ApiClient) -> list[tuple[str, set[str]]]:
    # FastAPI keeps an included router as one entry; its effective routes are the real ones.
    found: list[tuple[str, set[str]]] = []
    for route in api.client.app.routes:
        if isinstance(route, APIRoute):
            found.append((route.path, set(route.methods)))
        elif hasattr(route, "effective_route_contexts"):
            found.extend((c.path, set(c.methods or ())) for c in route.effective_route_contexts())
    return found


def dashboard_posts(api: ApiClient) -> list[str]:
    """Every POST route of the app under /dashboard, whoever added it."""
    return sorted(
        {
            path
            for path, methods in _routes(api)
            if path.startswith("/dashboard") and "POST" in methods
        }
    )


def concrete(path: str) -> str:
    # Any value for the path parameters: the role check comes before any lookup.
    return re.sub(r"\{[^}]+\}", "x", path)


def signed_in(api: ApiClient, email: str, role: str) -> tuple[Any, str]:
    add_user(api, email, role)
    client = browser_for(api)
    assert sign_in(client, email).status_code == 303
    page = client.get("/dashboard/activity")
    assert page.status_code == 200
    return client, csrf(page.text)


def test_a_viewer_gets_403_on_every_dashboard_post(dash: ApiClient) -> None:
    client, token = signed_in(dash, "viewer@acme.test", "viewer")
    posts = [p for p in dashboard_posts(dash) if p not in PUBLIC_POSTS | SELF_SERVICE_POSTS]
    # The routes of this change are among them, so the list cannot be silently empty.
    assert {"/dashboard/users/invite", "/dashboard/invoices/{invoice_id}/{action}"} <= set(posts)
    for path in posts:
        response = client.post(concrete(path), data={"csrf": token}, follow_redirects=False)
        assert response.status_code == 403, path
        assert "Not allowed" in response.text


def test_a_viewer_reads_every_page_but_the_admin_ones(dash: ApiClient) -> None:
    client, _ = signed_in(dash, "viewer@acme.test", "viewer")
    for path in (
        "/dashboard",
        "/dashboard/customers",
        "/dashboard/invoices",
        "/dashboard/activity",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/dashboard/users").status_code == 403


def test_finance_cannot_manage_users_or_api_keys(dash: ApiClient) -> None:
    client, token = signed_in(dash, "finance@acme.test", "finance")
    assert client.get("/dashboard/users").status_code == 403
    people_and_keys = [
        p
        for p in dashboard_posts(dash)
        if p.startswith("/dashboard/users") or "api_key" in p or "api-key" in p
    ]
    assert "/dashboard/users/invite" in people_and_keys
    for path in people_and_keys:
        response = client.post(concrete(path), data={"csrf": token}, follow_redirects=False)
        assert response.status_code == 403, path


def test_finance_may_act_on_invoices(dash: ApiClient) -> None:
    client, token = signed_in(dash, "finance@acme.test", "finance")
    # Allowed through the role check: the unknown invoice is then a 404, not a 403.
    response = client.post("/dashboard/invoices/x/void", data={"csrf": token})
    assert response.status_code == 404


def test_an_admin_manages_people(dash: ApiClient) -> None:
    client, token = signed_in(dash, "admin@acme.test", "admin")
    viewer_id = add_user(dash, "someone@acme.test", "viewer")
    page = client.get("/dashboard/users")
    assert page.status_code == 200
    assert "someone@acme.test" in page.text
    changed = client.post(
        f"/dashboard/users/{viewer_id}/role", data={"csrf": token, "role": "finance"}
    )
    assert "someone@acme.test is now finance." in changed.text
    removed = client.post(f"/dashboard/users/{viewer_id}/remove", data={"csrf": token})
    assert "someone@acme.test was removed." in removed.text
    assert "someone@acme.test</td>" not in client.get("/dashboard/users").text


def test_the_last_admin_cannot_be_demoted_or_removed(dash: ApiClient) -> None:
    client, token = signed_in(dash, "admin@acme.test", "admin")
    admin_id = add_user(dash, "other-admin@acme.test", "admin")
    assert (
        "is now viewer"
        in client.post(
            f"/dashboard/users/{admin_id}/role", data={"csrf": token, "role": "viewer"}
        ).text
    )
    # admin@acme.test is now the only admin left.
    page = client.get("/dashboard/users")
    me = [
        u
        for u in re.findall(r"/dashboard/users/([0-9a-f-]{36})/remove", page.text)
        if u != admin_id
    ]
    assert len(me) == 1
    refused = client.post(f"/dashboard/users/{me[0]}/remove", data={"csrf": token})
    assert "Not done" in refused.text


def test_an_api_key_session_is_an_admin(dash: ApiClient) -> None:
    client = browser_for(dash)
    response = client.post("/dashboard/login", data={"api_key": dash.key}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/dashboard/users").status_code == 200


def test_signed_out_posts_go_to_the_sign_in_page(dash: ApiClient) -> None:
    response = browser_for(dash).post("/dashboard/users/invite", data={}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/dashboard/login?next=")
