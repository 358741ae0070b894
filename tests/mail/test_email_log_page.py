"""The dashboard's e-mail log, on both backends."""

from __future__ import annotations

import pytest

from meterly.jobs import mail as mail_job
from meterly.services.accounts import create_organization
from meterly.services.common import FrozenClock
from meterly.store.tables import Email
from meterly.web import install_web
from tests.conftest import ApiClient
from tests.mail.conftest import CUSTOMER_EMAIL, FEB, SmtpServer, billed_invoice


@pytest.fixture
def signed_in(api: ApiClient) -> ApiClient:
    install_web(api.client.app)  # type: ignore[arg-type]
    response = api.client.post(
        "/dashboard/login", data={"api_key": api.key}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return api


def test_the_log_lists_sent_and_failed_emails(signed_in: ApiClient, smtp_env: SmtpServer) -> None:
    invoice = billed_invoice(signed_in)
    mail_job.deliver_due(signed_in.database, clock=FrozenClock(FEB))  # type: ignore[arg-type]

    html = signed_in.client.get("/dashboard/emails").text
    assert 'href="/dashboard/emails"' in html
    assert f"Invoice {invoice.number} from Acme" in html
    assert CUSTOMER_EMAIL in html
    assert '<span class="badge sent">sent</span>' in html

    failed_only = signed_in.client.get("/dashboard/emails?status=failed").text
    assert "No e-mail." in failed_only and CUSTOMER_EMAIL not in failed_only


def test_the_log_shows_only_the_signed_in_organization(
    signed_in: ApiClient, smtp_env: SmtpServer
) -> None:
    billed_invoice(signed_in)
    with signed_in.database.unit_of_work() as session:  # type: ignore[attr-defined]
        other, _ = create_organization(session, name="Globex", clock=FrozenClock(FEB))
        session.query(Email).update({Email.organization_id: other.id})
    html = signed_in.client.get("/dashboard/emails").text
    assert "No e-mail." in html and CUSTOMER_EMAIL not in html


def test_the_log_needs_a_sign_in(api: ApiClient) -> None:
    install_web(api.client.app)  # type: ignore[arg-type]
    response = api.client.get("/dashboard/emails", follow_redirects=False)
    assert response.status_code == 303
