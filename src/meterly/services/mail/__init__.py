"""E-mail: the outbox of documents and reminders sent to customers, and its log.

`enqueue` is called by whoever issues a document (invoicing, credits, payments), in its
own unit of work; the worker (`meterly.jobs.mail`) renders, attaches the PDF and sends.
"""

from meterly.services.mail import outbox, settings
from meterly.services.mail.outbox import (
    KINDS,
    STATUSES,
    Overrides,
    emails_for,
    enqueue,
    list_emails,
    opted_out,
    resend,
    set_opt_out,
)
from meterly.services.mail.settings import (
    DOCUMENT_TYPES,
    Sender,
    SmtpSettings,
    document_types,
    sender_of,
    settings_wire,
    update_settings,
)

__all__ = [
    "DOCUMENT_TYPES",
    "KINDS",
    "STATUSES",
    "Overrides",
    "Sender",
    "SmtpSettings",
    "document_types",
    "emails_for",
    "enqueue",
    "list_emails",
    "opted_out",
    "outbox",
    "resend",
    "sender_of",
    "set_opt_out",
    "settings",
    "settings_wire",
    "update_settings",
]
