"""A real SMTP server (aiosmtpd) in the test process, and an organization set up to mail.

The server listens on a free loopback port and keeps every message it accepts, with its
envelope, so a test reads exactly what a customer's mail server would have received.
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Email, Invoice
from tests.conftest import ApiClient

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, 1, tzinfo=UTC)
FROM = "billing@acme.test"
CUSTOMER_EMAIL = "ap@customer.test"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Collector:
    """The aiosmtpd handler: accepts every message and keeps it."""

    def __init__(self) -> None:
        self.messages: list[Received] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), data))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpServer:
    collector: Collector
    port: int
    controller: Controller | None = None

    @property
    def messages(self) -> list[Received]:
        return self.collector.messages

    def start(self) -> None:
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(Collector(), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_env(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> SmtpServer:
    """The process is configured for the test server; PDFs go to a temporary directory."""
    monkeypatch.setenv("METERLY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("METERLY_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("METERLY_SMTP_TLS", "none")
    monkeypatch.setenv("METERLY_SMTP_FROM", FROM)
    monkeypatch.setenv("METERLY_FILES_DIR", str(tmp_path / "files"))
    return smtp_server


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def billed_invoice(
    api: ApiClient, *, customer_email: str | None = CUSTOMER_EMAIL, opt_out: bool | None = None
) -> Invoice:
    """A finalized January invoice: a 100.00 EUR monthly plan with 20 % VAT = 120.00 EUR."""
    ok(api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": 20.0}}))
    plan = {
        "name": "Plan",
        "code": "plan",
        "interval": "monthly",
        "amount_cents": 10000,
        "amount_currency": "EUR",
        "pay_in_advance": False,
        "tax_codes": ["vat"],
        "charges": [],
    }
    ok(api.post("plans", {"plan": plan}))
    customer: dict[str, Any] = {"external_id": "cust", "name": "Customer Ltd", "currency": "EUR"}
    if customer_email is not None:
        customer["email"] = customer_email
    if opt_out is not None:
        customer["email_opt_out"] = opt_out
    ok(api.post("customers", {"customer": customer}))
    subscription = {
        "external_customer_id": "cust",
        "plan_code": "plan",
        "external_id": "sub",
        "billing_time": "calendar",
        "subscription_at": JAN.isoformat(),
    }
    ok(api.post("subscriptions", {"subscription": subscription}))
    report = runs.run(api.database, as_of=FEB, clock=FrozenClock(FEB))  # type: ignore[arg-type]
    assert report.errors == [] and len(report.invoices) == 1
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        invoice = session.get(Invoice, report.invoices[0])
        assert invoice is not None and invoice.status == "finalized"
        # 10000 + 20 % of 10000 = 12000 cents.
        assert invoice.total_amount_cents == 12000
        found: Invoice = invoice
        return found


def outbox(api: ApiClient) -> list[Email]:
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(Email).order_by(Email.created_at, Email.id)))
