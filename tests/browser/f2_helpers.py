"""What the F2 browser tests share: signing in, and people joining through an invitation."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveApi


def sign_in_with_key(page: Any, live: LiveApi) -> None:
    """The first admin's way in: the organization's API key."""
    page.goto(f"{live.base}/dashboard/login")
    page.click("#key-login summary")
    page.fill("#api_key", live.key)
    page.click("#key-login button[type=submit]")
    page.wait_for_url(f"{live.base}/dashboard")


def accept_dialogs(page: Any) -> None:
    """Destructive forms ask first (window.confirm): say yes."""
    page.on("dialog", lambda dialog: dialog.accept())


def invite(page: Any, live: LiveApi, email: str, role: str) -> str:
    """As a signed-in admin, invite `email` with `role`; the link shown once."""
    page.goto(f"{live.base}/dashboard/users")
    page.fill("#invite-email", email)
    page.select_option("#invite-role", role)
    page.click("#invite-form button[type=submit]")
    link: str = page.locator("#invitation-link").input_value()
    return link


def join(browser: Any, link: str, password: str) -> Any:
    """The invitee opens the link in a browser of their own and chooses a password;
    the page they land on, signed in."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.goto(link)
    tab.fill("#password", password)
    tab.fill("#password_confirmation", password)
    tab.click("#accept-invitation button[type=submit]")
    tab.wait_for_selector("#who-label")
    return tab
