"""The worker's loops: what runs beside the API so that time passing does its work.

`meterly worker` runs them alone; `meterly serve` and `make run` run them in the server's
own process (unless `--no-worker`). Each loop is a function `(database, clock, stop)` that
returns when `stop` is set; `LOOPS` lists them, so adding one is one line:

    LOOPS.append(WorkerLoop("email-delivery", deliver_emails_forever))

`start()` runs every registered loop on its own daemon thread and hands back a `Worker`
whose `stop()` ends them all together.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from meterly.jobs import mail, payments, webhooks
from meterly.services import reconciliation, runs
from meterly.services.common import Clock
from meterly.services.spend_control import spend
from meterly.store.uow import Database

log = logging.getLogger(__name__)

LoopBody = Callable[[Database, Clock, threading.Event], None]

# Seconds between two billing passes: a customer's midnight is billed within a minute.
BILLING_INTERVAL = 60.0
# Thresholds and alerts are checked every few seconds: usage is watched within a minute.
SPEND_INTERVAL = 15.0
# How often the events.errors loop looks whether a new hour has completed.
EVENT_ERRORS_INTERVAL = 60.0
# How long `Worker.stop()` waits for a loop to finish the pass it is in.
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class WorkerLoop:
    name: str
    body: LoopBody


def billing_pass(database: Database, clock: Clock) -> runs.RunReport:
    """One billing run as of the clock's now, logged when it issued or failed anything."""
    report = runs.run(database, as_of=clock.now(), clock=clock)
    if report.invoices or report.errors:
        log.warning(
            "%s: billing issued %d invoices, %d errors",
            clock.now().isoformat(),
            len(report.invoices),
            len(report.errors),
        )
    return report


def billing_loop(
    database: Database,
    clock: Clock,
    stop: threading.Event,
    *,
    interval: float = BILLING_INTERVAL,
) -> None:
    """Bill every closed period now, then again every `interval` seconds.

    Workers on several machines run this loop against one database: a pass joins the run
    another worker opened and claims its free batches (services/runs/fanout.py), so they
    share the work instead of racing for the same invoices.
    """
    while not stop.is_set():
        try:
            billing_pass(database, clock)
        except Exception:
            # One failed pass (a database restarting) must not end billing for good.
            log.exception("billing pass failed")
        stop.wait(interval)


def webhook_loop(database: Database, clock: Clock, stop: threading.Event) -> None:
    """Deliver the webhook outbox continuously, retrying with backoff (jobs/webhooks.py)."""
    webhooks.run_forever(
        database, clock=clock, stop=stop, max_attempts=webhooks.attempts_from_env()
    )


def spend_loop(database: Database, clock: Clock, stop: threading.Event) -> None:
    """Progressive-billing thresholds and usage alerts, every SPEND_INTERVAL seconds."""
    while not stop.wait(SPEND_INTERVAL):
        try:
            spend.run_checks(database, clock=clock)
        except Exception:
            log.exception("spend checks failed")


def event_errors_loop(database: Database, clock: Clock, stop: threading.Event) -> None:
    """Lago's hourly `events.errors`: once per complete hour, the events received in it
    that billing will ignore (services/reconciliation/event_errors.py). The last hour
    reported is kept in memory: a restart reports the last complete hour again."""
    reported: object = None
    while not stop.is_set():
        window = reconciliation.last_complete_hour(clock.now())
        if window != reported:
            try:
                with database.unit_of_work() as session:
                    reconciliation.report_event_errors(
                        session, received_from=window[0], received_to=window[1], clock=clock
                    )
                reported = window
            except Exception:
                log.exception("events.errors check failed")
        stop.wait(EVENT_ERRORS_INTERVAL)


# The registry: every loop `start()` runs. Order is start order.
LOOPS: list[WorkerLoop] = [
    WorkerLoop("billing", billing_loop),
    WorkerLoop("webhook-delivery", webhook_loop),
    WorkerLoop("spend-control", spend_loop),
    WorkerLoop("email-delivery", mail.mail_loop),
    WorkerLoop("payment-collection", payments.payments_loop),
    WorkerLoop("dunning", payments.dunning_loop),
    WorkerLoop("event-errors", event_errors_loop),
]


@dataclass
class Worker:
    """The running loops, each on its thread, sharing one stop event."""

    stop_event: threading.Event
    threads: list[threading.Thread] = field(default_factory=list)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=timeout)

    def wait(self) -> None:
        """Block until the stop event is set (by a signal handler, say)."""
        self.stop_event.wait()


def start(
    database: Database,
    clock: Clock,
    stop: threading.Event | None = None,
    *,
    loops: Sequence[WorkerLoop] | None = None,
) -> Worker:
    """Start every loop of `loops` (default: the registry) on a daemon thread."""
    worker = Worker(stop_event=stop or threading.Event())
    for loop in LOOPS if loops is None else loops:
        thread = threading.Thread(
            target=loop.body,
            args=(database, clock, worker.stop_event),
            name=loop.name,
            daemon=True,
        )
        thread.start()
        worker.threads.append(thread)
    return worker


def without(*names: str) -> list[WorkerLoop]:
    """The registry minus some loops (`meterly worker --once` runs billing itself)."""
    return [loop for loop in LOOPS if loop.name not in names]
