"""What the dashboard form tests share: signing in as the first admin, and reading pages."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveApi


def sign_in_as_admin(page: Any, live: LiveApi) -> None:
    """The organization's API key signs in as an admin (the first admin's way in)."""
    page.goto(f"{live.base}/dashboard/login")
    page.click("#key-login summary")
    page.fill("#api_key", live.key)
    page.click("#key-login button[type=submit]")
    page.wait_for_url(f"{live.base}/dashboard")


def errors_text(page: Any) -> str:
    text: str = page.locator("#form-errors").inner_text()
    return text


def flash_text(page: Any) -> str:
    text: str = page.locator("#flash").inner_text()
    return text
