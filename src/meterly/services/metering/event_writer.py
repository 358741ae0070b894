"""Group commit for ingestion: concurrent requests share one transaction and one commit.

Each request hands its validated rows to the writer thread and waits. The writer takes
everything queued and stores it in one transaction with one statement at driver speed
(a COPY or one JSON parameter on PostgreSQL, executemany on SQLite). When every row was
new, which is nearly always, one commit answers everyone. Otherwise the group is rolled
back and redone with each request in its own savepoint: a request whose rows are not all
new (a transaction id seen before) has its savepoint rolled back, so a batch stays all or
nothing. Nobody is answered before the commit that stores their events. While a commit
runs, the next requests queue up: under load the groups grow by themselves, with no added
latency.

The writer outlives a database outage. A group the database cannot take (the server
refuses connections, the SQLite file is read-only) is retried with a growing pause on a
fresh connection, for as long as its requests still wait. Each request waits a bounded
time (`timeout`, a few seconds): when its events could not be stored by then it gets
`EventsNotStored` (a 503 on the wire), and the writer no longer tries to store them. A
commit already running when the time is up may still land: that request was not
acknowledged, and its retry is recognised by its transaction_id. Should the thread die
anyway, the next request starts a new one; `health()` says how the writer is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from meterly.store import event_stores
from meterly.store.repositories import events as event_store
from meterly.store.uow import Database

Key = tuple[str, str]
_log = logging.getLogger("meterly.metering.event_writer")

# How long a request waits for its events to be stored before it is told they were not.
DEFAULT_TIMEOUT = 5.0
# Pauses between two attempts while the database is unavailable: 50 ms, doubling to 1 s.
FIRST_PAUSE, LONGEST_PAUSE = 0.05, 1.0


class EventsNotStored(Exception):
    """The events could not be stored in time (the database is unavailable): nothing was
    acknowledged, the client should retry."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """`new_keys`: the rows that were not stored before; `committed`: whether they are now
    (an all-or-nothing request with any old row is rolled back whole)."""

    new_keys: set[Key]
    committed: bool


Outcome = WriteResult | BaseException


@dataclass
class _Submission:
    """One request's rows. A thread waits on `done`; an async handler on `waiter`, which
    the writer resolves in `loop`'s own thread."""

    rows: Sequence[dict[str, Any]]
    all_or_nothing: bool
    done: Future[WriteResult] = field(default_factory=Future)
    waiter: asyncio.Future[WriteResult] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    # time.monotonic() after which nobody waits any more: its rows are not tried again.
    deadline: float = math.inf

    def expired(self, now: float) -> bool:
        return now >= self.deadline or (self.waiter is not None and self.waiter.done())


@dataclass
class WriterHealth:
    """What `/health` reports: `ok`, or `unavailable` since the first failed attempt."""

    status: str = "ok"
    since: datetime | None = None
    last_error: str | None = None
    restarts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "since": self.since.isoformat() if self.since else None,
            "last_error": self.last_error,
            "restarts": self.restarts,
        }


class EventWriter:
    MAX_ROWS = 5_000

    def __init__(self, database: Database, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.database = database
        self.timeout = timeout
        self._queue: queue.Queue[_Submission | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closing = False
        self._connection: Connection | None = None  # used by the writer thread only
        self._health = WriterHealth()

    def store(self, rows: Sequence[dict[str, Any]], *, all_or_nothing: bool = True) -> WriteResult:
        """Store the rows once committed; blocks until then, or raises EventsNotStored."""
        self._start()
        submission = _Submission(
            rows=rows, all_or_nothing=all_or_nothing, deadline=time.monotonic() + self.timeout
        )
        self._queue.put(submission)
        try:
            return submission.done.result(timeout=self.timeout)
        except FutureTimeout:
            raise EventsNotStored(_NOT_STORED) from None

    async def store_async(
        self, rows: Sequence[dict[str, Any]], *, all_or_nothing: bool = True
    ) -> WriteResult:
        """`store` for async handlers: the event loop waits without holding a thread."""
        self._start()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[WriteResult] = loop.create_future()
        deadline = time.monotonic() + self.timeout
        self._queue.put(
            _Submission(rows, all_or_nothing, waiter=waiter, loop=loop, deadline=deadline)
        )
        # A timer rather than asyncio.wait_for: one handle, no extra task per request.
        timer = loop.call_later(self.timeout, _give_up, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()

    def health(self) -> dict[str, Any]:
        """The writer's state for `/health`: `ok` or `unavailable` (since when, and why)."""
        return self._health.as_dict()

    def close(self) -> None:
        self._closing = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _start(self) -> None:
        """Start the writer thread, or start it again if it died (supervision)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and not self._thread.is_alive():
                _log.error("the event writer thread had stopped: starting a new one")
                self._health.restarts += 1
                self._thread = None
                self._connection = None  # the dead thread's: never shared between threads
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._drop_connection()
                return
            group = self._gather([first])
            try:
                self._commit(group)
            except Exception as exc:  # never let the thread die with requests waiting
                _log.exception("the event writer failed a group")
                self._drop_connection()
                _settle(group, [EventsNotStored(str(exc))] * len(group))

    def _gather(self, group: list[_Submission]) -> list[_Submission]:
        """Add what else is queued, up to MAX_ROWS rows."""
        size = sum(len(submission.rows) for submission in group)
        while size < self.MAX_ROWS:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)
                break
            group.append(nxt)
            size += len(nxt.rows)
        return group

    def _commit(self, group: list[_Submission]) -> None:
        """Store the group; while the database is unavailable, retry what is still awaited."""
        pause = FIRST_PAUSE
        while True:
            group = self._without_expired(group)
            if not group:
                return
            clickhouse = event_stores.configured()
            if clickhouse is not None:
                _settle(group, self._commit_clickhouse(clickhouse, group))
                return
            try:
                outcomes = self._commit_all_new(group) or self._commit_one_by_one(group)
            except Exception as exc:  # e.g. no connection could be opened
                outcomes = [exc] * len(group)
            failure = next((o for o in outcomes if _unavailable(o)), None)
            if failure is None:
                if self._health.status != "ok":
                    _log.warning("the event writer stores events again")
                    self._health = WriterHealth(restarts=self._health.restarts)
                _settle(group, outcomes)
                return
            # Nothing of this attempt was committed (the slow path commits once, at the
            # end): the whole group is tried again, on a new connection.
            self._drop_connection()
            self._record_failure(failure)
            if self._closing:
                _settle(group, [EventsNotStored(_NOT_STORED)] * len(group))
                return
            earliest = min(submission.deadline for submission in group)
            time.sleep(max(0.0, min(pause, earliest - time.monotonic())))
            pause = min(pause * 2, LONGEST_PAUSE)
            group = self._gather(group)

    def _without_expired(self, group: list[_Submission]) -> list[_Submission]:
        """The requests still waiting; those whose time is up are told their events were
        not stored (an async handler's own timer has told it already)."""
        now = time.monotonic()
        expired = [submission for submission in group if submission.expired(now)]
        if not expired:
            return group
        _settle(expired, [EventsNotStored(_NOT_STORED)] * len(expired))
        return [submission for submission in group if not submission.expired(now)]

    def _record_failure(self, failure: BaseException) -> None:
        message = f"{type(failure).__name__}: {str(failure).strip().splitlines()[0]}"
        if self._health.status == "ok":
            _log.error("the event writer cannot store events: %s", message)
            self._health = WriterHealth(
                "unavailable", datetime.now(UTC), message, self._health.restarts
            )
        else:
            self._health.last_error = message

    def _commit_all_new(self, group: list[_Submission]) -> list[Outcome] | None:
        """The common case in one statement: every row of the group is new.

        Returns None, having rolled everything back, when some row was stored before
        (or the statement failed): the slow path then sorts out who gets what.
        """
        rows = [row for submission in group for row in submission.rows]
        try:
            # Inside the try: after an outage, reconnecting may fail too.
            conn = self._held_connection()
            with conn.begin():
                if event_store.append_ignoring_duplicates(conn, rows) != len(rows):
                    raise _NotAllNew
        except _NotAllNew:
            return None
        except Exception:  # a bad row or a broken connection: the slow path finds out
            self._drop_connection()
            return None
        return [
            WriteResult(
                {(r["transaction_id"], r["external_subscription_id"]) for r in submission.rows},
                committed=True,
            )
            for submission in group
        ]

    def _commit_clickhouse(
        self, store: event_stores.ClickHouseEvents, group: list[_Submission]
    ) -> list[Outcome]:
        """The ClickHouse event store: one duplicate check and one INSERT for the group.

        The store checks and inserts under its lock, and under the deployment's ingestion
        lock on the main database (`event_stores.ingestion_lock`: API processes, on one
        machine or several, never both insert one new event). It inserts nothing
        of an all-or-nothing request holding an old key. On a failure every request is
        told its events were not stored (503); a part the server wrote before failing is
        recognised on retry by its transaction ids and never counts twice.
        """
        try:
            with event_stores.ingestion_lock(self._held_connection()):
                answers = store.append_groups([(s.rows, s.all_or_nothing) for s in group])
        except Exception as exc:
            _log.error("the ClickHouse event store cannot store events: %s", exc)
            self._drop_connection()
            return [EventsNotStored(f"the event store is unavailable: {exc}")] * len(group)
        return [
            WriteResult(keys, committed=not s.all_or_nothing or len(keys) == len(s.rows))
            for s, keys in zip(group, answers, strict=True)
        ]

    def _held_connection(self) -> Connection:
        """The writer's own connection, kept between groups: no pool check-out per commit."""
        if self._connection is None:
            self._connection = self.database.engine.connect()
        return self._connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.invalidate()
                self._connection.close()
            self._connection = None

    def _commit_one_by_one(self, group: list[_Submission]) -> list[Outcome]:
        """Each request in its own savepoint: an old row rolls back only its own request."""
        outcomes: list[Outcome] = []
        try:
            with self.database.engine.begin() as conn:
                for submission in group:
                    savepoint = conn.begin_nested()
                    try:
                        new_keys = event_store.insert_new(conn, submission.rows)
                    except Exception as exc:
                        if _unavailable(exc):
                            raise  # the database, not this request: retry the group
                        savepoint.rollback()
                        outcomes.append(exc)
                        continue
                    if submission.all_or_nothing and len(new_keys) != len(submission.rows):
                        savepoint.rollback()
                        outcomes.append(WriteResult(new_keys, committed=False))
                    else:
                        savepoint.commit()
                        outcomes.append(WriteResult(new_keys, committed=True))
        except Exception as exc:  # the commit failed: nobody's events were acknowledged
            return [exc] * len(group)
        return outcomes


_NOT_STORED = "the events could not be stored in time: the database is unavailable"


def _unavailable(outcome: Outcome) -> TypeGuard[DBAPIError]:
    """A failure of the database rather than of the request's rows: worth retrying."""
    if isinstance(outcome, OperationalError | InterfaceError):
        return True
    return isinstance(outcome, DBAPIError) and outcome.connection_invalidated


def _give_up(waiter: asyncio.Future[WriteResult]) -> None:
    if not waiter.done():
        waiter.set_exception(EventsNotStored(_NOT_STORED))


def _settle(group: list[_Submission], outcomes: list[Outcome]) -> None:
    """Answer everyone; the async waiters of one event loop in one wake-up of that loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[WriteResult], Outcome]]]
    by_loop = {}
    for submission, outcome in zip(group, outcomes, strict=True):
        if submission.waiter is not None and submission.loop is not None:
            by_loop.setdefault(submission.loop, []).append((submission.waiter, outcome))
        elif submission.done.done():
            continue
        elif isinstance(outcome, BaseException):
            submission.done.set_exception(outcome)
        else:
            submission.done.set_result(outcome)
    for loop, waiters in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting
            loop.call_soon_threadsafe(_resolve, waiters)


def _resolve(waiters: list[tuple[asyncio.Future[WriteResult], Outcome]]) -> None:
    for waiter, outcome in waiters:
        if waiter.done():  # cancelled: the client went away (its rows are stored or not)
            continue
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)


class _NotAllNew(Exception):
    """Some row of the group was stored before: roll the group back."""
