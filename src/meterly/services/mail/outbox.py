"""The e-mail outbox: one row per message, written in the caller's unit of work.

An invoice finalized, a credit note issued, a payment receipt or a dunning reminder calls
`enqueue` in the same transaction, so a rollback takes the e-mail with it. The worker
(`meterly.jobs.mail`) renders and sends it later. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, ValidationFailed
from meterly.services.accounts import billing_entities
from meterly.services.common import Clock, new_id
from meterly.services.mail.settings import (
    SmtpSettings,
    kind_enabled,
    sender_of,
    settings_of,
    split_addresses,
    valid_address,
)
from meterly.store.tables import Customer, Email, MailOptOut

KINDS = ("invoice", "credit_note", "payment_receipt", "dunning_reminder")
STATUSES = ("pending", "sending", "retrying", "sent", "failed")


@dataclass(frozen=True, slots=True)
class Overrides:
    """Recipients an operator names on a resend; None keeps the customer's own."""

    to: Sequence[str] | None = None
    cc: Sequence[str] | None = None
    bcc: Sequence[str] | None = None


def enqueue(
    session: Session,
    *,
    organization_id: str,
    customer_id: str,
    kind: str,
    object_id: str,
    clock: Clock,
) -> None:
    """Queue the customer's e-mail for `object_id`, or do nothing when it must not go.

    Nothing is queued when the process has no SMTP server or the organization no From
    address, the organization (or the customer's billing entity) turned this document off
    (`email_settings`), the customer opted out or has no e-mail address.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown e-mail kind {kind!r}")
    smtp = SmtpSettings.from_env()
    # Checked before any query: a process without SMTP pays nothing per invoice.
    if smtp.host is None or sender_of(session, organization_id, smtp) is None:
        return
    customer = session.get(Customer, customer_id)
    seller = billing_entities.seller_for(session, customer).email_settings if customer else None
    if not kind_enabled(settings_of(session, organization_id), kind, seller=seller):
        return
    if opted_out(session, customer_id):
        return
    to = [a for a in split_addresses(customer.email if customer else None) if valid_address(a)]
    if not to:
        return
    _add(session, organization_id, customer_id, kind, object_id, to, Overrides(), clock)


def resend(
    session: Session,
    *,
    organization_id: str,
    customer_id: str,
    kind: str,
    object_id: str,
    overrides: Overrides,
    clock: Clock,
) -> Email:
    """Queue the document again, on an operator's request (Lago's `resend_email`).

    An explicit request: it goes even to a customer who opted out of automatic mail and
    whatever `email_settings` says, but never without a server or a recipient.
    """
    errors = {
        name: ["invalid_email_format"]
        for name in ("to", "cc", "bcc")
        if any(not valid_address(a) for a in getattr(overrides, name) or [])
    }
    if errors:
        raise ValidationFailed(errors)
    if sender_of(session, organization_id) is None:
        raise NotAllowed("email_settings_disabled", "no SMTP server or From address is set")
    if overrides.to:
        to = list(overrides.to)
    else:
        customer = session.get(Customer, customer_id)
        to = [a for a in split_addresses(customer.email if customer else None) if valid_address(a)]
    if not to:
        raise ValidationFailed.field("to", "value_is_mandatory")
    return _add(session, organization_id, customer_id, kind, object_id, to, overrides, clock)


def _add(
    session: Session,
    organization_id: str,
    customer_id: str,
    kind: str,
    object_id: str,
    to: list[str],
    overrides: Overrides,
    clock: Clock,
) -> Email:
    settings = settings_of(session, organization_id)
    cc = overrides.cc if overrides.cc is not None else (settings.cc if settings else [])
    bcc = overrides.bcc if overrides.bcc is not None else (settings.bcc if settings else [])
    now = clock.now()
    email_id = new_id()
    row = Email(
        id=email_id,
        organization_id=organization_id,
        customer_id=customer_id,
        kind=kind,
        object_id=object_id,
        recipients={"to": list(to), "cc": list(cc), "bcc": list(bcc)},
        status="pending",
        attempts=0,
        next_attempt_at=now,
        lease_until=None,
        # Fixed now, so every attempt of this row (a crash, a retry) carries the same id.
        message_id=f"<{email_id}@meterly>",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


# --- opt-out ---------------------------------------------------------------------------


def opted_out(session: Session, customer_id: str) -> bool:
    return session.get(MailOptOut, customer_id) is not None


def set_opt_out(session: Session, *, customer: Customer, opted_out: bool, clock: Clock) -> None:
    """The customer's `email_opt_out`: true stops every automatic e-mail to them."""
    row = session.get(MailOptOut, customer.id)
    if opted_out and row is None:
        session.add(
            MailOptOut(
                customer_id=customer.id,
                organization_id=customer.organization_id,
                created_at=clock.now(),
            )
        )
    elif not opted_out and row is not None:
        session.delete(row)
    session.flush()


# --- the log ---------------------------------------------------------------------------


def list_emails(
    session: Session,
    *,
    organization_id: str,
    status: str | None = None,
    customer_id: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Email], int]:
    """The organization's e-mails, newest first."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed.field("status", "value_is_invalid")
    where = [Email.organization_id == organization_id]
    if status is not None:
        where.append(Email.status == status)
    if customer_id is not None:
        where.append(Email.customer_id == customer_id)
    total = session.scalar(select(func.count()).select_from(Email).where(*where)) or 0
    rows = session.scalars(
        select(Email)
        .where(*where)
        .order_by(Email.created_at.desc(), Email.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def emails_for(session: Session, *, organization_id: str, kind: str, object_id: str) -> list[Email]:
    """Every e-mail queued for one document, oldest first."""
    return list(
        session.scalars(
            select(Email)
            .where(
                Email.organization_id == organization_id,
                Email.kind == kind,
                Email.object_id == object_id,
            )
            .order_by(Email.created_at, Email.id)
        )
    )
