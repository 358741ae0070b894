"""Dashboard fixtures for people and roles: the `api` app with the web mounted, and users."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from meterly.services import operators
from meterly.web import install_web
from tests.conftest import ApiClient

PASSWORD = "correct horse battery"


@pytest.fixture
def dash(api: ApiClient) -> ApiClient:
    install_web(api.client.app)
    return api


def add_user(api: ApiClient, email: str, role: str, password: str = PASSWORD) -> str:
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        user = operators.create_user(
            session,
            organization_id=api.org_id,
            email=email,
            password=password,
            role=role,
            clock=api.client.app.state.clock,
        )
        return user.id


def browser_for(api: ApiClient) -> TestClient:
    """Another client of the same app: its own cookie jar, like another device."""
    return TestClient(api.client.app)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/dashboard/login", data={"email": email, "password": password}, follow_redirects=False
    )


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)
