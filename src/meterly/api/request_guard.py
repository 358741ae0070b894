"""What every request must satisfy before routing: size, content type, clean URL.

Runs in front of both the ingestion lane and FastAPI (api/app.py), so the two answer
alike. A body over its size limit is refused with 413 as soon as the declared length or
the bytes read pass it (nothing past the limit is buffered), on every path (the dashboard's
forms too); a control character in the path is a 404 (no resource can be named so:
creation refuses them). Under /api, a body that is not `application/json` is refused with
415, and the query string's values are bounded by api/limits.py (422).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from meterly.api import limits
from meterly.api.errors import PayloadTooLarge, UnsupportedMediaType, error_payload
from meterly.domain.errors import DomainError, NotFound

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def guards(scope: Scope) -> bool:
    return bool(scope["type"] == "http")


def refusal(scope: Scope, *, max_body: int) -> Exception | None:
    """Why this request is refused before its body is read, or None."""
    if limits.has_control_characters(scope["path"], allow_whitespace=False):
        return NotFound("resource")
    api = scope["path"].startswith("/api/")
    headers = _headers(scope)
    if api:
        try:
            query = scope.get("query_string", b"").decode("latin-1")
            limits.check_query(parse_qsl(query, keep_blank_values=True))
        except DomainError as exc:
            return exc
    if scope["method"] not in _BODY_METHODS:
        return None
    length = headers.get(b"content-length", b"").strip()
    if length and (not length.isdigit() or int(length) > max_body):
        return PayloadTooLarge()
    has_body = (length and int(length) > 0) or b"transfer-encoding" in headers
    if api and has_body and not is_json(headers.get(b"content-type", b"")):
        return UnsupportedMediaType()
    return None


def is_json(content_type: bytes) -> bool:
    """`application/json` or a `+json` type, whatever its parameters (charset)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def bounded(receive: Receive, *, max_body: int) -> Receive:
    """`receive`, raising PayloadTooLarge once the body read passes `max_body` bytes."""
    read = 0

    async def receive_bounded() -> Message:
        nonlocal read
        message = await receive()
        if message["type"] == "http.request":
            read += len(message.get("body", b""))
            if read > max_body:
                raise PayloadTooLarge()
        return message

    return receive_bounded


async def answer(send: Send, exc: Exception) -> None:
    status, payload = error_payload(exc)
    body = orjson.dumps(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope["headers"]}
