"""Who sends the mail: the SMTP server (process settings) and each organization's sender.

The server, its credentials and the default From address come from the environment
(METERLY_SMTP_HOST, _PORT, _USERNAME, _PASSWORD, _TLS, _FROM), the same for every
organization of the process. What a customer sees is the organization's: the sender
name, a From address of its own, Reply-To, copies (cc, bcc), and which documents are
sent (Lago's `email_settings`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from meterly.domain.errors import ValidationFailed
from meterly.services.common import Clock
from meterly.store.tables import MailSettings

TLS_MODES = ("none", "starttls", "ssl")
# Lago's `email_settings` values, and the outbox kind each one allows.
DOCUMENT_TYPES: dict[str, str] = {
    "invoice.finalized": "invoice",
    "credit_note.created": "credit_note",
    "payment_receipt.created": "payment_receipt",
}
# Deliberately loose: one @, no spaces, a dot in the domain. The SMTP server has the
# final word; this only stops a typo from sitting in the outbox.
_ADDRESS = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str | None = None
    port: int = 25
    username: str | None = None
    password: str | None = None
    tls: str = "none"
    from_address: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        env = os.environ if environ is None else environ
        tls = (env.get("METERLY_SMTP_TLS") or "none").strip().lower()
        if tls not in TLS_MODES:
            tls = "none"
        default_port = {"none": 25, "starttls": 587, "ssl": 465}[tls]
        raw_port = (env.get("METERLY_SMTP_PORT") or "").strip()
        return cls(
            host=(env.get("METERLY_SMTP_HOST") or "").strip() or None,
            port=int(raw_port) if raw_port.isdigit() else default_port,
            username=env.get("METERLY_SMTP_USERNAME") or None,
            password=env.get("METERLY_SMTP_PASSWORD") or None,
            tls=tls,
            from_address=(env.get("METERLY_SMTP_FROM") or "").strip() or None,
        )


@dataclass(frozen=True, slots=True)
class Sender:
    """What the headers of an organization's mail say."""

    from_address: str
    sender_name: str | None
    reply_to: str | None


def valid_address(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 254 and bool(_ADDRESS.match(value))


def split_addresses(value: str | None) -> list[str]:
    """A customer's `email` may hold several addresses separated by commas (as Lago)."""
    if not value:
        return []
    return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]


def settings_of(session: Session, organization_id: str) -> MailSettings | None:
    return session.get(MailSettings, organization_id)


def sender_of(
    session: Session, organization_id: str, smtp: SmtpSettings | None = None
) -> Sender | None:
    """The organization's sender, or None when no server or no From address is set."""
    smtp = smtp or SmtpSettings.from_env()
    if smtp.host is None:
        return None
    row = settings_of(session, organization_id)
    from_address = (row.from_address if row else None) or smtp.from_address
    if not from_address:
        return None
    return Sender(
        from_address=from_address,
        sender_name=row.sender_name if row else None,
        reply_to=row.reply_to if row else None,
    )


def kind_enabled(
    row: MailSettings | None, kind: str, *, seller: Sequence[str] | None = None
) -> bool:
    """Lago's `email_settings`: never set means every document; reminders always go.

    `seller`: the customer's billing entity's own `email_settings`, which win over the
    organization's when the entity has set them.
    """
    documents = seller if seller is not None else (row.document_types if row else None)
    if documents is None:
        return True
    allowed = {DOCUMENT_TYPES[t] for t in documents if t in DOCUMENT_TYPES}
    return kind not in DOCUMENT_TYPES.values() or kind in allowed


def document_types(session: Session, organization_id: str) -> list[str]:
    """The `email_settings` list the organization object shows."""
    row = settings_of(session, organization_id)
    if row is None or row.document_types is None:
        return list(DOCUMENT_TYPES)
    return [t for t in DOCUMENT_TYPES if t in row.document_types]


SETTING_FIELDS = ("sender_name", "from_address", "reply_to", "cc", "bcc")


def update_settings(
    session: Session,
    *,
    organization_id: str,
    changes: Mapping[str, Any],
    clock: Clock,
) -> MailSettings:
    """Apply the fields present in `changes` (SETTING_FIELDS and `email_settings`)."""
    errors = _check(changes)
    if errors:
        raise ValidationFailed(errors)
    row = settings_of(session, organization_id)
    if row is None:
        row = MailSettings(organization_id=organization_id, cc=[], bcc=[], document_types=None)
        session.add(row)
    for name in ("sender_name", "from_address", "reply_to"):
        if name in changes:
            setattr(row, name, (changes[name] or None) and str(changes[name]).strip())
    for name in ("cc", "bcc"):
        if name in changes:
            setattr(row, name, list(dict.fromkeys(changes[name] or [])))
    if "email_settings" in changes:
        row.document_types = sorted(set(changes["email_settings"] or []))
    row.updated_at = clock.now()
    session.flush()
    return row


def settings_wire(session: Session, organization_id: str) -> dict[str, Any]:
    """Meterly's `email_delivery` object on the organization (no secret in it)."""
    row = settings_of(session, organization_id)
    smtp = SmtpSettings.from_env()
    return {
        "sender_name": row.sender_name if row else None,
        "from_address": (row.from_address if row else None) or smtp.from_address,
        "reply_to": row.reply_to if row else None,
        "cc": list(row.cc) if row else [],
        "bcc": list(row.bcc) if row else [],
        "smtp_configured": smtp.host is not None,
    }


def _check(changes: Mapping[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name in ("from_address", "reply_to"):
        value = changes.get(name)
        if value not in (None, "") and not valid_address(value):
            errors[name] = ["invalid_email_format"]
    sender_name = changes.get("sender_name")
    if sender_name is not None and (not isinstance(sender_name, str) or len(sender_name) > 255):
        errors["sender_name"] = ["value_is_invalid"]
    for name in ("cc", "bcc"):
        if name in changes and not _address_list(changes[name]):
            errors[name] = ["invalid_email_format"]
    if "email_settings" in changes:
        values = changes["email_settings"]
        if values is not None and (
            not isinstance(values, list) or any(v not in DOCUMENT_TYPES for v in values)
        ):
            errors["email_settings"] = ["value_is_invalid"]
    return errors


def _address_list(value: object) -> bool:
    if value is None:
        return True
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and all(valid_address(v) for v in value)
    )
