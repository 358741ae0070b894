"""People in Chromium: the invitation flow end to end, and what each role may do.

An admin invites, the invitee opens the link, chooses a password, is signed in, signs out
and back in with the password, and sees the pages of the role. A viewer gets 403 on every
form of the plan editor and settings area; finance cannot manage API keys or users.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveApi, screenshot
from tests.browser.f2_helpers import invite, join, sign_in_with_key

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"

# Every form (POST) the plan editor, taxes, settings, endpoints, keys and alerts serve.
ADMIN_FORMS = (
    "/dashboard/plans/new",
    "/dashboard/plans/startup/edit",
    "/dashboard/plans/startup/delete",
    "/dashboard/plans/startup/charges/new",
    "/dashboard/plans/startup/charges/api_calls/edit",
    "/dashboard/plans/startup/charges/api_calls/delete",
    "/dashboard/taxes/new",
    "/dashboard/taxes/vat/edit",
    "/dashboard/taxes/vat/delete",
    "/dashboard/settings",
    "/dashboard/webhook_endpoints/new",
    "/dashboard/webhook_endpoints/some-id/delete",
    "/dashboard/api_keys/new",
    "/dashboard/api_keys/some-id/rotate",
    "/dashboard/api_keys/some-id/revoke",
    "/dashboard/alerts/new",
    "/dashboard/alerts/sub_cust_acme/spend/delete",
)


def test_an_invitee_joins_signs_in_with_a_password_and_sees_the_role_pages(
    page: Any, browser: Any, live: LiveApi
) -> None:
    sign_in_with_key(page, live)
    link = invite(page, live, "vera@example.com", "viewer")
    assert link.startswith(f"{live.base}/dashboard/invitations/")
    screenshot(page, "f2-invitation-created")

    tab = join(browser, link, PASSWORD)
    try:
        assert tab.url == f"{live.base}/dashboard"
        assert tab.locator("#who-label").inner_text() == "vera@example.com · viewer"
        # Sign out, then in again with the e-mail and the password just chosen.
        tab.click("header >> text=Sign out")
        tab.wait_for_url("**/dashboard/login")
        tab.fill("#email", "vera@example.com")
        tab.fill("#password", PASSWORD)
        tab.click("#password-login button[type=submit]")
        tab.wait_for_url(f"{live.base}/dashboard")
        screenshot(tab, "f2-invitee-signed-in")

        # A viewer reads: plans, a plan's charges, taxes, settings (disabled), alerts...
        tab.click("text=Plans")
        assert "Startup" in tab.locator("#plans").inner_text()
        assert tab.locator("text=New plan").count() == 0
        tab.goto(f"{live.base}/dashboard/plans/startup")
        assert tab.locator("#charge-api_calls table.tiers").is_visible()
        assert tab.locator("#edit-plan").count() == 0
        tab.goto(f"{live.base}/dashboard/settings")
        assert tab.locator("#save-settings").count() == 0
        assert tab.locator("#legal_name").is_disabled()
        # ... but neither the people nor the keys of the organization.
        assert tab.locator("header nav >> text=Users").count() == 0
        for path in ("/dashboard/users", "/dashboard/api_keys"):
            answer = tab.goto(f"{live.base}{path}")
            assert answer.status == 403
            assert tab.locator("#forbidden").is_visible()
        screenshot(tab, "f2-viewer-forbidden")
    finally:
        tab.context.close()

    # The invitation was used: the same link does not open an account twice.
    page.goto(link)
    assert page.locator("#invitation-invalid").is_visible()


def test_a_viewer_gets_403_on_every_form_and_nothing_changes(
    page: Any, browser: Any, live: LiveApi
) -> None:
    sign_in_with_key(page, live)
    tab = join(browser, invite(page, live, "val@example.com", "viewer"), PASSWORD)
    try:
        token = tab.locator("input[name=csrf]").first.input_value()
        for path in ADMIN_FORMS:
            answer = tab.context.request.post(
                f"{live.base}{path}",
                form={"csrf": token, "name": "Hacked", "code": "hacked", "rate": "1"},
                max_redirects=0,
            )
            assert answer.status == 403, path
    finally:
        tab.context.close()
    assert live.get("plans/hacked").status_code == 404
    assert live.get("taxes/hacked").status_code == 404
    assert live.get("organizations").json()["organization"]["name"] == "Acme Billing"
    assert [c["code"] for c in live.get("plans/startup").json()["plan"]["charges"]] == [
        "api_calls",
        "storage_gb",
    ]


def test_finance_cannot_manage_api_keys_or_users(page: Any, browser: Any, live: LiveApi) -> None:
    sign_in_with_key(page, live)
    tab = join(browser, invite(page, live, "fin@example.com", "finance"), PASSWORD)
    try:
        assert tab.locator("#who-label").inner_text() == "fin@example.com · finance"
        token = tab.locator("input[name=csrf]").first.input_value()
        for path in ("/dashboard/api_keys", "/dashboard/users"):
            assert tab.goto(f"{live.base}{path}").status == 403
        for path in (
            "/dashboard/api_keys/new",
            "/dashboard/users/invite",
            "/dashboard/taxes/new",
            "/dashboard/settings",
        ):
            answer = tab.context.request.post(
                f"{live.base}{path}",
                form={"csrf": token, "name": "Finance key", "email": "x@example.com"},
                max_redirects=0,
            )
            assert answer.status == 403, path
        # Finance may still read the catalogue and the settings.
        assert tab.goto(f"{live.base}/dashboard/taxes").status == 200
        assert tab.goto(f"{live.base}/dashboard/settings").status == 200
    finally:
        tab.context.close()
    page.goto(f"{live.base}/dashboard/users")
    # Only the admin's invitation of fin@ exists: finance invited nobody.
    assert "x@example.com" not in page.locator("#invitations").inner_text()
    page.goto(f"{live.base}/dashboard/api_keys")
    assert "Finance key" not in page.locator("#api-keys").inner_text()
