"""Signing in with e-mail and password: lockout, sign-out everywhere, invitations, the CLI."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from meterly.cli.main import app as cli
from meterly.services import operators
from tests.conftest import ApiClient
from tests.operators.conftest import PASSWORD, add_user, browser_for, csrf, sign_in


def test_right_and_wrong_passwords(dash: ApiClient) -> None:
    add_user(dash, "ana@acme.test", "finance")
    client = browser_for(dash)
    wrong = sign_in(client, "ana@acme.test", "not the password")
    assert wrong.status_code == 401
    assert "do not match an account" in wrong.text
    # The address is case-insensitive: one account per e-mail.
    assert sign_in(client, "Ana@Acme.test").status_code == 303
    assert "ana@acme.test · finance" in client.get("/dashboard").text


def test_five_failures_lock_the_account_for_fifteen_minutes(dash: ApiClient) -> None:
    add_user(dash, "ana@acme.test", "admin")
    client = browser_for(dash)
    clock = dash.client.app.state.clock
    for _ in range(5):  # the default limit: 5 failures per account per 15 minutes
        assert sign_in(client, "ana@acme.test", "guess").status_code == 401
    locked = sign_in(client, "ana@acme.test")  # even the right password is refused now
    assert locked.status_code == 429
    # The first failure was at t0; the lock lifts when it leaves the window: t0 + 15 min.
    assert "Try again in 15 minutes." in locked.text
    clock.advance(timedelta(minutes=14))
    assert "Try again in 1 minute." in sign_in(client, "ana@acme.test").text
    clock.advance(timedelta(minutes=1))
    assert sign_in(client, "ana@acme.test").status_code == 303


def test_failures_from_one_address_lock_every_account_there(
    dash: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METERLY_SIGNIN_MAX_FAILURES_PER_ADDRESS", "3")
    add_user(dash, "ana@acme.test", "admin")
    client = browser_for(dash)
    # Three different accounts, one failure each: the address's third failure locks it.
    for email in ("a@x.test", "b@x.test", "c@x.test"):
        assert sign_in(client, email, "guess").status_code == 401
    refused = sign_in(client, "ana@acme.test")
    assert refused.status_code == 429
    assert "from this address" in refused.text


def test_a_success_clears_the_account_failures(dash: ApiClient) -> None:
    add_user(dash, "ana@acme.test", "admin")
    client = browser_for(dash)
    for _ in range(4):
        sign_in(client, "ana@acme.test", "guess")
    assert sign_in(client, "ana@acme.test").status_code == 303
    # 4 failures were cleared: 4 more stay under the limit of 5.
    for _ in range(4):
        assert sign_in(client, "ana@acme.test", "guess").status_code == 401
    assert sign_in(client, "ana@acme.test").status_code == 303


def test_sign_out_everywhere_ends_every_session_of_the_user(dash: ApiClient) -> None:
    add_user(dash, "ana@acme.test", "viewer")
    laptop, phone = browser_for(dash), browser_for(dash)
    assert sign_in(laptop, "ana@acme.test").status_code == 303
    assert sign_in(phone, "ana@acme.test").status_code == 303
    token = csrf(laptop.get("/dashboard").text)
    done = laptop.post("/dashboard/logout/everywhere", data={"csrf": token}, follow_redirects=False)
    assert done.status_code == 303
    # The phone's cookie is still signed and unexpired, but of an old epoch: refused.
    for client in (laptop, phone):
        response = client.get("/dashboard", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/dashboard/login")
    assert sign_in(phone, "ana@acme.test").status_code == 303
    assert phone.get("/dashboard", follow_redirects=False).status_code == 200


def test_a_role_change_ends_the_sessions_of_the_old_role(dash: ApiClient) -> None:
    user_id = add_user(dash, "ana@acme.test", "admin")
    add_user(dash, "boss@acme.test", "admin")
    ana = browser_for(dash)
    sign_in(ana, "ana@acme.test")
    assert ana.get("/dashboard/users").status_code == 200
    with dash.database.unit_of_work() as session:  # type: ignore[attr-defined]
        user = operators.find_user(session, organization_id=dash.org_id, user_id=user_id)
        operators.change_role(session, user=user, role="viewer", clock=dash.client.app.state.clock)
    assert ana.get("/dashboard/users", follow_redirects=False).status_code == 303


def test_an_invitation_lets_the_invitee_set_a_password_once(dash: ApiClient) -> None:
    add_user(dash, "boss@acme.test", "admin")
    admin = browser_for(dash)
    sign_in(admin, "boss@acme.test")
    token = csrf(admin.get("/dashboard/users").text)
    page = admin.post(
        "/dashboard/users/invite", data={"csrf": token, "email": "new@acme.test", "role": "finance"}
    )
    found = re.search(
        r'id="invitation-link" readonly value="[^"]*(/dashboard/invitations/[^"]+)"', page.text
    )
    assert found, page.text
    link = found.group(1)
    invitee = browser_for(dash)
    assert "finance" in invitee.get(link).text
    short = invitee.post(link, data={"password": "short", "password_confirmation": "short"})
    assert short.status_code == 422
    assert "at least 10 characters" in short.text
    accepted = invitee.post(
        link,
        data={"password": PASSWORD, "password_confirmation": PASSWORD},
        follow_redirects=False,
    )
    assert accepted.status_code == 303  # signed in straight away
    assert "new@acme.test · finance" in invitee.get("/dashboard").text
    # The link served once.
    assert browser_for(dash).get(link).status_code == 404
    assert sign_in(browser_for(dash), "new@acme.test").status_code == 303


def test_an_expired_invitation_is_refused(dash: ApiClient) -> None:
    with dash.database.unit_of_work() as session:  # type: ignore[attr-defined]
        _, token = operators.invite(
            session,
            organization_id=dash.org_id,
            email="late@acme.test",
            role="viewer",
            invited_by=None,
            clock=dash.client.app.state.clock,
        )
    dash.client.app.state.clock.advance(timedelta(days=7))  # the lifetime is 7 days
    response = browser_for(dash).get(f"/dashboard/invitations/{token}")
    assert response.status_code == 404
    assert "expired" in response.text


def test_the_cli_creates_the_first_admin(dash: ApiClient, migrated_db_url: str) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "user",
            "create",
            "--admin",
            "--email",
            "First@Acme.test",
            "--org",
            dash.org_id,
            "--database-url",
            migrated_db_url,
        ],
        env={"METERLY_USER_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 0, result.output
    assert "first@acme.test" in result.output
    client = browser_for(dash)
    assert sign_in(client, "first@acme.test").status_code == 303
    assert client.get("/dashboard/users").status_code == 200
    again = CliRunner().invoke(
        cli,
        [
            "user",
            "create",
            "--email",
            "first@acme.test",
            "--org",
            dash.org_id,
            "--database-url",
            migrated_db_url,
        ],
        env={"METERLY_USER_PASSWORD": PASSWORD},
    )
    assert again.exit_code == 1
