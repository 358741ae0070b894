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
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from meterly.store.repositories import events as event_store
from meterly.store.uow import Database

Key = tuple[str, str]


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


class EventWriter:
    MAX_ROWS = 5_000

    def __init__(self, database: Database) -> None:
        self.database = database
        self._queue: queue.Queue[_Submission | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connection: Connection | None = None  # used by the writer thread only

    def store(self, rows: Sequence[dict[str, Any]], *, all_or_nothing: bool = True) -> WriteResult:
        """Store the rows once committed; blocks until then."""
        self._start()
        submission = _Submission(rows=rows, all_or_nothing=all_or_nothing)
        self._queue.put(submission)
        return submission.done.result()

    async def store_async(
        self, rows: Sequence[dict[str, Any]], *, all_or_nothing: bool = True
    ) -> WriteResult:
        """`store` for async handlers: the event loop waits without holding a thread."""
        self._start()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[WriteResult] = loop.create_future()
        self._queue.put(_Submission(rows, all_or_nothing, waiter=waiter, loop=loop))
        return await waiter

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._drop_connection()
                return
            group = [first]
            size = len(first.rows)
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
            self._commit(group)

    def _commit(self, group: list[_Submission]) -> None:
        outcomes = self._commit_all_new(group) or self._commit_one_by_one(group)
        _settle(group, outcomes)

    def _commit_all_new(self, group: list[_Submission]) -> list[Outcome] | None:
        """The common case in one statement: every row of the group is new.

        Returns None, having rolled everything back, when some row was stored before
        (or the statement failed): the slow path then sorts out who gets what.
        """
        rows = [row for submission in group for row in submission.rows]
        conn = self._held_connection()
        try:
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


def _settle(group: list[_Submission], outcomes: list[Outcome]) -> None:
    """Answer everyone; the async waiters of one event loop in one wake-up of that loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[WriteResult], Outcome]]]
    by_loop = {}
    for submission, outcome in zip(group, outcomes, strict=True):
        if submission.waiter is not None and submission.loop is not None:
            by_loop.setdefault(submission.loop, []).append((submission.waiter, outcome))
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
