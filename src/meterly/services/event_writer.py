"""Group commit for ingestion: concurrent requests share one transaction and one commit.

Each request hands its validated rows to the writer thread and waits. The writer takes
everything queued, opens one transaction, inserts each request's rows inside its own
savepoint, and commits once. A request whose rows are not all new (a transaction id seen
before) has its savepoint rolled back, so a batch stays all or nothing, and nobody is
answered before the commit that stores their events. While a commit runs, the next
requests queue up: under load the groups grow by themselves, with no added latency.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from meterly.store.repositories import events as event_store
from meterly.store.uow import Database

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """`new_keys`: the rows that were not stored before; `committed`: whether they are now
    (an all-or-nothing request with any old row is rolled back whole)."""

    new_keys: set[Key]
    committed: bool


@dataclass
class _Submission:
    rows: Sequence[dict[str, Any]]
    all_or_nothing: bool
    done: Future[WriteResult] = field(default_factory=Future)


class EventWriter:
    MAX_ROWS = 5_000

    def __init__(self, database: Database) -> None:
        self.database = database
        self._queue: queue.Queue[_Submission | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

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
        submission = _Submission(rows=rows, all_or_nothing=all_or_nothing)
        self._queue.put(submission)
        return await asyncio.wrap_future(submission.done)

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
        results: list[WriteResult] = []
        try:
            with self.database.engine.begin() as conn:
                for submission in group:
                    savepoint = conn.begin_nested()
                    new_keys = event_store.insert_new(conn, submission.rows)
                    if submission.all_or_nothing and len(new_keys) != len(submission.rows):
                        savepoint.rollback()
                        results.append(WriteResult(new_keys, committed=False))
                    else:
                        savepoint.commit()
                        results.append(WriteResult(new_keys, committed=True))
        except Exception as exc:  # the commit failed: nobody's events were acknowledged
            for submission in group:
                submission.done.set_exception(exc)
            return
        for submission, result in zip(group, results, strict=True):
            submission.done.set_result(result)
