"""API logs: one row per API write (POST, PUT, PATCH, DELETE under /api/v1), as Lago keeps.

Reads are not logged (Lago does not log them either, and they are most of the traffic).
Event ingestion never reaches this middleware: `MeterlyApp` answers /api/v1/events before
its middleware stack, so the benchmarked path pays nothing. A logged request costs one
indexed key lookup and one insert, in a worker thread after the answer has been sent.
Bodies are kept only as redacted JSON (api/activity: `redact_body`); responses are not kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool

from meterly.services import activity
from meterly.services.accounts import hash_secret
from meterly.services.common import Clock, new_id
from meterly.store.uow import Database

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Retention is enforced on write, at most once an hour per process: no extra job needed.
_PRUNE_EVERY = timedelta(hours=1)
REQUEST_ID_HEADER = b"x-request-id"
_log = logging.getLogger(__name__)


class ApiLogMiddleware:
    def __init__(self, app: ASGIApp, *, state: Any) -> None:
        self.app = app
        self.state = state
        self._next_prune: Any = None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _WRITES
            or not scope["path"].startswith("/api/v1/")
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body = bytearray()
        status = 500
        request_id = new_id()

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) <= activity.logs_max_body():
                body.extend(message.get("body", b""))
            return message

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # The request id the log is found by (GET /api/v1/api_logs/{request_id}).
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            parts = headers.get("authorization", "").split()
            if len(parts) >= 2:
                request = activity.ApiRequest(
                    request_id=request_id,
                    key_hash=hash_secret(parts[1]),
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    origin=headers.get("origin") or headers.get("host", ""),
                    client=headers.get("user-agent", ""),
                    body=bytes(body),
                    duration_ms=int((time.perf_counter() - started) * 1000),
                )
                await run_in_threadpool(self._store, request)

    def _store(self, request: activity.ApiRequest) -> None:
        database: Database = self.state.database
        clock: Clock = self.state.clock
        now = clock.now()
        try:
            with database.unit_of_work() as session:
                activity.record_api_request(session, request, now=now)
                if self._next_prune is None or now >= self._next_prune:
                    self._next_prune = now + _PRUNE_EVERY
                    activity.prune(session, now=now, days=activity.retention_days())
        except Exception:  # a log that cannot be written must not fail the answered request
            _log.exception("could not store the API log of request %s", request.request_id)
