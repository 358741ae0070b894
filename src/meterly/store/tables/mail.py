"""E-mail: the outbox of documents sent to customers, the sender settings, the opt-outs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json


class Email(Base):
    """One e-mail to send, written in the unit of work of the change it reports.

    The worker claims a row (status `sending`, `lease_until` ahead) in its own commit
    before it talks to the SMTP server; a worker that dies holding it leaves the lease to
    run out and the row to be claimed again, with the same `message_id`.
    """

    __tablename__ = "emails"
    __table_args__ = (
        Index("ix_emails_due", "status", "next_attempt_at"),
        Index("ix_emails_org_created", "organization_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    # invoice | credit_note | payment_receipt | dunning_reminder
    kind: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(UUID)
    # {"to": [...], "cc": [...], "bcc": [...]}, decided when queued.
    recipients: Mapped[dict[str, Any]] = mapped_column(Json)
    # pending | sending | retrying | sent | failed
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    # The Message-ID header, fixed when queued: a resend after a crash carries the same.
    message_id: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MailSettings(Base):
    """An organization's sender identity; the SMTP server itself is process settings."""

    __tablename__ = "mail_settings"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    sender_name: Mapped[str | None]
    # Overrides METERLY_SMTP_FROM for this organization.
    from_address: Mapped[str | None]
    reply_to: Mapped[str | None]
    cc: Mapped[list[Any]] = mapped_column(Json, default=list)
    bcc: Mapped[list[Any]] = mapped_column(Json, default=list)
    # Lago's `email_settings` (`invoice.finalized`, ...); None: never set, every document.
    document_types: Mapped[list[Any] | None] = mapped_column(Json)
    updated_at: Mapped[datetime]


class MailOptOut(Base):
    """A customer who receives no automatic e-mail (a Meterly field, not Lago's)."""

    __tablename__ = "mail_opt_outs"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[datetime]
