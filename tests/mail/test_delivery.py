"""The outbox's promises: retried when the server is down, never lost after a crash."""

from __future__ import annotations

from datetime import timedelta

from meterly.jobs import mail as mail_job
from meterly.services import mail
from meterly.services.common import FrozenClock
from tests.conftest import ApiClient
from tests.mail.conftest import FEB, SmtpServer, billed_invoice, free_port, outbox


def deliver(
    api: ApiClient, at: FrozenClock, smtp: mail.SmtpSettings | None = None
) -> mail_job.DeliveryReport:
    return mail_job.deliver_due(api.database, clock=at, smtp=smtp)  # type: ignore[arg-type]


def test_smtp_server_down_is_retried_later_and_delivered_once(
    api: ApiClient, smtp_env: SmtpServer
) -> None:
    billed_invoice(api)
    smtp_env.stop()

    down = deliver(api, FrozenClock(FEB))
    assert (down.claimed, down.retrying) == (1, 1)
    [row] = outbox(api)
    # First failure: wait 60 s * 2**(1-1) = 60 s.
    assert row.status == "retrying" and row.attempts == 1
    assert row.next_attempt_at == FEB + timedelta(seconds=60)
    assert row.last_error and "ConnectionRefusedError" in row.last_error

    smtp_env.start()
    # Not due yet 59 s later.
    assert deliver(api, FrozenClock(FEB + timedelta(seconds=59))).claimed == 0
    up = deliver(api, FrozenClock(FEB + timedelta(seconds=60)))
    assert (up.claimed, up.sent) == (1, 1)
    assert deliver(api, FrozenClock(FEB + timedelta(hours=1))).claimed == 0
    assert len(smtp_env.messages) == 1
    [row] = outbox(api)
    assert row.status == "sent" and row.attempts == 2


def test_backoff_doubles_and_the_last_attempt_fails_the_email(
    api: ApiClient, smtp_env: SmtpServer
) -> None:
    billed_invoice(api)
    dead = mail.SmtpSettings(host="127.0.0.1", port=free_port(), from_address="x@acme.test")
    at = FEB
    waits = []
    for _ in range(3):
        mail_job.deliver_due(
            api.database,  # type: ignore[arg-type]
            clock=FrozenClock(at),
            smtp=dead,
            max_attempts=3,
        )
        [row] = outbox(api)
        if row.next_attempt_at is not None:
            waits.append(row.next_attempt_at - at)
            at = row.next_attempt_at
    # After attempt 1: 60 s; after attempt 2: 120 s; attempt 3 is the last: failed.
    assert waits == [timedelta(seconds=60), timedelta(seconds=120)]
    assert row.status == "failed" and row.attempts == 3
    assert smtp_env.messages == []


def test_a_crash_after_the_claim_is_delivered_once_after_the_lease(
    api: ApiClient, smtp_env: SmtpServer
) -> None:
    billed_invoice(api)
    [queued] = outbox(api)
    # A worker claims the row and dies before it renders or sends anything.
    [claim] = mail_job.claim_due(api.database, clock=FrozenClock(FEB))  # type: ignore[arg-type]
    assert claim.lease_until == FEB + mail_job.DEFAULT_LEASE
    [row] = outbox(api)
    assert row.status == "sending"

    # While the lease holds, no other worker touches it.
    assert deliver(api, FrozenClock(FEB + timedelta(minutes=4))).claimed == 0
    # Once it has run out (5 minutes), the row is claimed again and sent.
    later = deliver(api, FrozenClock(FEB + mail_job.DEFAULT_LEASE))
    assert (later.claimed, later.sent) == (1, 1)
    assert deliver(api, FrozenClock(FEB + timedelta(hours=1))).claimed == 0
    [received] = smtp_env.messages
    assert received.message["Message-ID"] == queued.message_id
    [row] = outbox(api)
    assert row.status == "sent" and row.attempts == 2


def test_a_crash_after_sending_resends_the_same_message(
    api: ApiClient, smtp_env: SmtpServer
) -> None:
    """The documented at-least-once window: same Message-ID, same Date, same body."""
    billed_invoice(api)
    smtp = mail.SmtpSettings.from_env()
    [claim] = mail_job.claim_due(api.database, clock=FrozenClock(FEB))  # type: ignore[arg-type]
    rendered = mail_job.render(api.database, claim=claim, clock=FrozenClock(FEB), smtp=smtp)  # type: ignore[arg-type]
    assert mail_job.send(smtp, rendered).sent
    # ...and the worker dies before recording it.
    deliver(api, FrozenClock(FEB + mail_job.DEFAULT_LEASE))

    first, second = (m.message for m in smtp_env.messages)
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Date"] == second["Date"]
    first_text, second_text = (m.get_body(preferencelist=("plain",)) for m in (first, second))
    assert first_text is not None and second_text is not None
    assert first_text.get_content() == second_text.get_content()


def test_a_late_worker_does_not_undo_the_one_that_sent(
    api: ApiClient, smtp_env: SmtpServer
) -> None:
    billed_invoice(api)
    [stale] = mail_job.claim_due(api.database, clock=FrozenClock(FEB))  # type: ignore[arg-type]
    later = FEB + mail_job.DEFAULT_LEASE
    assert deliver(api, FrozenClock(later)).sent == 1
    # The first worker wakes up and reports a failure: the row stays sent.
    failure = mail_job.Outcome(sent=False, error="timed out")
    status = mail_job.record(
        api.database,  # type: ignore[arg-type]
        claim=stale,
        outcome=failure,
        clock=FrozenClock(later),
    )
    assert status == "sent"
    [row] = outbox(api)
    assert row.status == "sent" and row.last_error is None


def test_a_refused_recipient_fails_at_once(api: ApiClient, smtp_env: SmtpServer) -> None:
    billed_invoice(api)

    async def refuse(
        server: object, session: object, envelope: object, address: str, options: list[str]
    ) -> str:
        return "550 5.1.1 no such mailbox"

    smtp_env.collector.handle_RCPT = refuse  # type: ignore[attr-defined]
    report = deliver(api, FrozenClock(FEB))
    assert report.failed == 1
    [row] = outbox(api)
    # A 5xx refusal is permanent: no retry is scheduled.
    assert row.status == "failed" and row.next_attempt_at is None
    assert row.last_error and "550" in row.last_error
