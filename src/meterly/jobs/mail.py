"""E-mail delivery: claim due outbox rows, render them, send through SMTP, record, retry.

Three commits per message, so no crash loses one and none sends one twice by design:

1. **claim**: the row becomes `sending` with a lease (`lease_until`), committed before
   anything is rendered or sent. A second worker skips it (`FOR UPDATE SKIP LOCKED` on
   PostgreSQL; one worker runs on SQLite) until the lease runs out.
2. **render and send**: the message carries the Message-ID fixed when the row was queued,
   and its Date is the row's creation time, so every attempt sends the same message.
3. **record**: `sent` (or a retry with backoff, or `failed`) in a commit of its own.

A worker that dies after claiming leaves the row `sending`; once the lease has run out it
is claimed again and sent, with the same Message-ID. The one window left is a crash (or a
lost database) after the SMTP server accepted the message and before step 3 commits: the
message is then sent a second time, identical, same Message-ID, which mail clients and
most mailbox providers fold into one. That is at-least-once; SMTP offers no way to ask a
server whether it already took a message, so nothing closes that window entirely.

Retries: after the n-th failed attempt the next one waits `BACKOFF_BASE * 2**(n-1)`
seconds (capped at BACKOFF_CAP); after `max_attempts` (METERLY_SMTP_ATTEMPTS, default 8)
the e-mail is `failed`. A permanent refusal (a 5xx reply, every recipient refused) fails
it at once.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from meterly.jobs import mail_messages
from meterly.services import mail
from meterly.services.common import Clock
from meterly.store.tables import Email
from meterly.store.uow import Database

log = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_CAP = timedelta(hours=6)
# Long enough for a slow SMTP server and a large PDF, short enough that a crashed
# worker's mail goes out within minutes.
DEFAULT_LEASE = timedelta(minutes=5)
ERROR_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Claim:
    email_id: str
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: sent, or an error that is worth retrying or not."""

    sent: bool
    error: str | None = None
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def attempts_from_env() -> int:
    raw = os.environ.get("METERLY_SMTP_ATTEMPTS", "")
    return max(int(raw), 1) if raw.strip().isdigit() else DEFAULT_ATTEMPTS


def backoff(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: 1, 2, 4, 8 ... minutes, at most 6 hours."""
    wait: timedelta = BACKOFF_BASE * 2 ** max(attempts - 1, 0)
    return min(wait, BACKOFF_CAP)


def claim_due(
    database: Database, *, clock: Clock, limit: int = 50, lease: timedelta = DEFAULT_LEASE
) -> list[Claim]:
    """Lease the due rows (and those whose lease ran out) to this worker; commits."""
    now = clock.now()
    lease_until = now + lease
    with database.unit_of_work() as session:
        query = (
            select(Email)
            .where(
                or_(
                    and_(
                        Email.status.in_(("pending", "retrying")),
                        Email.next_attempt_at <= now,
                    ),
                    # A worker claimed it and never said how it went: it died.
                    and_(Email.status == "sending", Email.lease_until <= now),
                )
            )
            .order_by(Email.next_attempt_at, Email.id)
            .limit(limit)
        )
        if database.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claims: list[Claim] = []
        for row in session.scalars(query).all():
            row.status = "sending"
            row.lease_until = lease_until
            row.attempts += 1
            row.updated_at = now
            claims.append(Claim(row.id, lease_until))
    return claims


def render(
    database: Database, *, claim: Claim, clock: Clock, smtp: mail.SmtpSettings
) -> mail_messages.Rendered:
    """The message of a claimed row (storing the PDF first if it was never generated)."""
    with database.unit_of_work() as session:
        row = session.get(Email, claim.email_id)
        if row is None:
            raise mail_messages.NotRenderable(claim.email_id)
        rendered = mail_messages.render(session, row, clock=clock, smtp=smtp)
        if row.subject != rendered.message["Subject"]:
            row.subject = str(rendered.message["Subject"])[:255]
        return rendered


def send(smtp: mail.SmtpSettings, rendered: mail_messages.Rendered) -> Outcome:
    """One SMTP transaction; what went wrong, classified as worth a retry or not."""
    if smtp.host is None:
        return Outcome(False, "no SMTP server is set (METERLY_SMTP_HOST)")
    try:
        client = _connect(smtp)
        try:
            refused = client.send_message(
                rendered.message,
                from_addr=rendered.envelope_from,
                to_addrs=list(rendered.envelope_to),
            )
        finally:
            try:
                client.quit()
            except smtplib.SMTPException:
                client.close()
    except smtplib.SMTPRecipientsRefused as exc:
        return Outcome(False, f"every recipient refused: {exc.recipients}", permanent=True)
    except smtplib.SMTPResponseException as exc:
        message = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
        return Outcome(False, message, permanent=exc.smtp_code >= 500)
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, f"{type(exc).__name__}: {exc}")
    if refused:
        # Accepted for some recipients: it is sent; the refusals go in the log.
        return Outcome(True, f"refused for {sorted(refused)}")
    return Outcome(True)


def _connect(smtp: mail.SmtpSettings) -> smtplib.SMTP:
    assert smtp.host is not None
    if smtp.tls == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        if smtp.tls == "starttls":
            client.starttls(context=ssl.create_default_context())
    if smtp.username:
        client.login(smtp.username, smtp.password or "")
    return client


def record(
    database: Database,
    *,
    claim: Claim,
    outcome: Outcome,
    clock: Clock,
    max_attempts: int = DEFAULT_ATTEMPTS,
) -> str | None:
    """Write the attempt's result; the row's new status (None when the row is gone)."""
    now = clock.now()
    with database.unit_of_work() as session:
        query = select(Email).where(Email.id == claim.email_id)
        if database.dialect == "postgresql":
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            return None
        row.updated_at = now
        if outcome.sent:
            # Sent, whoever holds the lease now: the mail left, the row must say so.
            row.status = "sent"
            row.sent_at = row.sent_at or now
            row.next_attempt_at = None
            row.lease_until = None
            row.last_error = outcome.error
            return row.status
        owned = row.status == "sending" and row.lease_until == claim.lease_until
        if not owned:
            # Our lease ran out and another worker took the row: its attempt decides.
            return row.status
        row.last_error = (outcome.error or "")[:ERROR_LIMIT]
        row.lease_until = None
        if outcome.permanent or row.attempts >= max_attempts:
            row.status = "failed"
            row.next_attempt_at = None
        else:
            row.status = "retrying"
            row.next_attempt_at = now + backoff(row.attempts)
        return row.status


def deliver_due(
    database: Database,
    *,
    clock: Clock,
    smtp: mail.SmtpSettings | None = None,
    limit: int = 50,
    lease: timedelta = DEFAULT_LEASE,
    max_attempts: int | None = None,
) -> DeliveryReport:
    """Send every e-mail due now (up to `limit`); one pass."""
    smtp = smtp or mail.SmtpSettings.from_env()
    attempts = max_attempts if max_attempts is not None else attempts_from_env()
    claims = claim_due(database, clock=clock, limit=limit, lease=lease)
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    for claim in claims:
        try:
            rendered = render(database, claim=claim, clock=clock, smtp=smtp)
        except mail_messages.NotRenderable as exc:
            outcome = Outcome(False, f"cannot render: {exc}", permanent=True)
        except Exception as exc:
            log.exception("e-mail %s: rendering failed", claim.email_id)
            outcome = Outcome(False, f"render failed: {type(exc).__name__}: {exc}")
        else:
            outcome = send(smtp, rendered)
        status = record(database, claim=claim, outcome=outcome, clock=clock, max_attempts=attempts)
        if status in counts:
            counts[status] += 1
    return DeliveryReport(claimed=len(claims), **counts)


def run_forever(
    database: Database,
    *,
    clock: Clock,
    stop: threading.Event,
    interval: float = 2.0,
    limit: int = 50,
) -> None:
    """Deliver until `stop` is set; sleeps `interval` when there was less than a batch."""
    while not stop.is_set():
        try:
            report = deliver_due(database, clock=clock, limit=limit)
        except Exception:
            # A database restarting must not end delivery for good.
            log.exception("e-mail delivery pass failed")
            report = DeliveryReport()
        if report.claimed < limit:
            stop.wait(interval)


def mail_loop(database: Database, clock: Clock, stop: threading.Event) -> None:
    """The worker registry's entry (jobs/worker.py)."""
    run_forever(database, clock=clock, stop=stop)
