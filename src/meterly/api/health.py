"""`GET /health`: Lago's answer, plus whether events can be stored right now.

A load balancer or an operator reads it: 200 while the database answers and the event
writer stores events, 503 (same body, `message: "Unavailable"`) while either fails, so an
outage is visible before clients see their events refused.
"""

from __future__ import annotations

import orjson
from fastapi.responses import Response
from sqlalchemy import text

from meterly.services.metering import EventWriter
from meterly.store.uow import Database

VERSION = "0.1.0"


def health_answer(database: Database, writer: EventWriter) -> Response:
    database_state = _database_state(database)
    writer_state = writer.health()
    healthy = database_state == "ok" and writer_state["status"] == "ok"
    body = {
        "version": VERSION,
        "github_url": "",
        "message": "Success" if healthy else "Unavailable",
        "database": database_state,
        "event_writer": writer_state,
    }
    return Response(
        orjson.dumps(body), status_code=200 if healthy else 503, media_type="application/json"
    )


def _database_state(database: Database) -> str:
    """`ok` when a connection answers `SELECT 1` (bounded: PostgreSQL's connect_timeout)."""
    try:
        with database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"
