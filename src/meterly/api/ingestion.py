"""The ingestion lane: POST /api/v1/events and /api/v1/events/batch as bare ASGI.

These two routes carry nearly all of the traffic (every usage event of every customer),
while each does little: authenticate from the key cache, parse, validate, hand the rows
to the group-commit writer and answer. Through FastAPI's routing, dependency solving and
middleware stack the framework cost more than the work (measured with py-spy: about 80 %
of the server's CPU per single-event request), so the application answers these two
paths itself before FastAPI's machinery. Everything else about them is unchanged: the
same services, the same error bodies as api/errors.py, the same answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool

from meterly.api.errors import BadRequest, Unauthorized, error_payload
from meterly.api.http import json_default, parse_json, root
from meterly.api.schemas.events import event
from meterly.api.wire import iso
from meterly.domain.errors import DomainError
from meterly.services.accounts import authenticate, cached_organization
from meterly.services.common import Clock
from meterly.services.metering import EventsNotStored, EventWriter, clock_times, ingest
from meterly.store.uow import Database

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SINGLE = "/api/v1/events"
BATCH = "/api/v1/events/batch"
MAX_BODY = 4 * 1024 * 1024  # a full batch of 100 events is ~20 kB; this is generous

_log = logging.getLogger("meterly.api.ingestion")
_JSON_HEADERS = [(b"content-type", b"application/json")]

# A request whose events cannot be stored in time is answered 503 (never acknowledged).
TIMEOUT_VARIABLE = "METERLY_INGEST_TIMEOUT"
DEFAULT_TIMEOUT = 5.0
UNAVAILABLE = {"status": 503, "error": "Service Unavailable", "code": "events_not_stored"}
RETRY_AFTER_SECONDS = b"1"


def ingest_timeout() -> float:
    """Seconds a request waits for its events to be stored (METERLY_INGEST_TIMEOUT)."""
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    value = float(text)
    if not 0 < value <= 300:
        raise ValueError(f"{TIMEOUT_VARIABLE} must be between 0 and 300 seconds, not {text}")
    return value


def is_ingestion(scope: Scope) -> bool:
    return (
        scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in (SINGLE, BATCH)
    )


class IngestionLane:
    """Answers the two ingestion paths; the state it needs is the app's own."""

    def __init__(self, database: Database, writer: EventWriter, clock: Clock) -> None:
        self.database = database
        self.writer = writer
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = list(_JSON_HEADERS)
        try:
            status, payload = 200, await self._handle(scope, receive)
        except (EventsNotStored, OperationalError, InterfaceError) as exc:
            # The database is unavailable (the writer could not store the events in time,
            # or the key could not be looked up): nothing acknowledged, retry later.
            _log.warning("ingestion answered 503: %s", str(exc).splitlines()[0])
            status, payload = 503, UNAVAILABLE
            headers.append((b"retry-after", RETRY_AFTER_SECONDS))
        except Exception as exc:  # every failure answers in Lago's error format
            status, payload = error_payload(exc)
            if status == 500:
                _log.exception("ingestion failed")
        body = orjson.dumps(payload, default=json_default)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        organization_id = await self._organization(scope)
        body = parse_json(await _read_body(receive))
        now = self.clock.now()
        expressions = await self._expressions(organization_id)
        if scope["path"] == SINGLE:
            (raw,) = await self._clock_times(organization_id, [root(body, "event")])
            row = ingest.prepare_one(
                organization_id=organization_id,
                raw=raw,
                now=now,
                expressions=expressions,
            )
            result = await self.writer.store_async([row])
            ingest.require_new([row], result.new_keys)
            return {"event": event(row)}
        if not isinstance(body, dict) or "events" not in body:
            raise BadRequest("param is missing or the value is empty or invalid: events")
        raw_events = body["events"]
        if isinstance(raw_events, list):
            raw_events = await self._clock_times(organization_id, raw_events)
        rows = ingest.prepare_batch(
            organization_id=organization_id,
            raw_events=raw_events,
            now=now,
            expressions=expressions,
        )
        result = await self.writer.store_async(rows, all_or_nothing=True)
        ingest.require_new(rows, result.new_keys)
        created_at = iso(now)
        return {"events": [event(r, created_at=created_at) for r in rows]}

    async def _organization(self, scope: Scope) -> str:
        """The Bearer key's organization: from the key cache, or the database off-loop."""
        header = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        parts = header.decode("latin-1").split()
        # `Bearer <key>` and nothing else (the scheme word is case-insensitive, RFC 9110).
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise Unauthorized()
        organization_id = cached_organization(parts[1])
        if organization_id is None:
            organization_id = await run_in_threadpool(self._authenticate, parts[1])
        if organization_id is None:
            raise Unauthorized()
        return organization_id

    def _authenticate(self, secret: str) -> str | None:
        with self.database.sessions() as session:
            return authenticate(session, secret)

    async def _clock_times(self, organization_id: str, raws: list[Any]) -> list[Any]:
        """Undated events of a test clock's customers happen at the clock's time."""
        if not clock_times.needs_lookup(organization_id, raws):
            return raws

        def load() -> list[Any]:
            with self.database.sessions() as session:
                return clock_times.stamp(session, organization_id, raws)

        return await run_in_threadpool(load)

    async def _expressions(self, organization_id: str) -> dict[str, tuple[str, Any]]:
        cached = ingest.EXPRESSIONS.cached(organization_id)
        if cached is not None:
            return cached

        def load() -> dict[str, tuple[str, Any]]:
            with self.database.sessions() as session:
                return ingest.EXPRESSIONS.for_org(session, organization_id)

        return await run_in_threadpool(load)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest("the body is too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class _Disconnected(DomainError):
    """The client went away before sending its body: nothing was stored."""

    code = "client_disconnected"
