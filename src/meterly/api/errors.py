"""The one place where errors become Lago's error bodies. Every error answer is JSON."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from meterly.domain.errors import DomainError, NotAllowed, NotFound, ValidationFailed


class BadRequest(Exception):
    """A request Lago rejects before validation: missing root key, unreadable JSON."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(Exception):
    pass


class PayloadTooLarge(Exception):
    """A body over the configured size (api/request_guard.py): 413, nothing read further."""


class UnsupportedMediaType(Exception):
    """A body that is not `application/json`: 415, as Rails-based Lago effectively does."""


class Forbidden(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def error_payload(exc: Exception) -> tuple[int, dict[str, Any]]:
    """Lago's status and body for an error; 500 for anything not raised on purpose."""
    if isinstance(exc, BadRequest):
        return 400, {"status": 400, "error": f"BadRequest: {exc.message}"}
    if isinstance(exc, Unauthorized):
        return 401, {"status": 401, "error": "Unauthorized"}
    if isinstance(exc, Forbidden):
        return 403, {"status": 403, "error": "Forbidden", "code": exc.code}
    if isinstance(exc, PayloadTooLarge):
        return 413, {"status": 413, "error": "Payload Too Large", "code": "payload_too_large"}
    if isinstance(exc, UnsupportedMediaType):
        return 415, {
            "status": 415,
            "error": "Unsupported Media Type",
            "code": "unsupported_media_type",
        }
    if isinstance(exc, NotFound):
        return 404, {"status": 404, "error": "Not Found", "code": exc.code}
    if isinstance(exc, NotAllowed):
        return 405, {"status": 405, "error": "Method Not Allowed", "code": exc.code}
    if isinstance(exc, ValidationFailed):
        return 422, _unprocessable(exc.details)
    if isinstance(exc, DomainError):
        return 422, {"status": 422, "error": "Unprocessable Entity", "code": exc.code}
    return 500, {"status": 500, "error": "Internal Server Error"}


def _unprocessable(details: dict[str, Any], code: str = "validation_errors") -> dict[str, Any]:
    return {"status": 422, "error": "Unprocessable Entity", "code": code, "error_details": details}


def error_body(status: int, **fields: Any) -> Response:
    body = orjson.dumps({"status": status, **fields})
    return Response(body, status_code=status, media_type="application/json")


def unprocessable(details: dict[str, Any], code: str = "validation_errors") -> Response:
    return _answer(422, _unprocessable(details, code))


def _answer(status: int, payload: dict[str, Any]) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    async def _on_purpose(_: Request, exc: Exception) -> Response:
        return _answer(*error_payload(exc))

    for kind in (
        BadRequest,
        Unauthorized,
        Forbidden,
        PayloadTooLarge,
        UnsupportedMediaType,
        NotFound,
        NotAllowed,
        DomainError,
    ):
        app.add_exception_handler(kind, _on_purpose)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> Response:
        details: dict[str, list[str]] = {}
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body")]
            details.setdefault(".".join(loc) or "request", []).append("value_is_invalid")
        return unprocessable(details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_body(404, error="Not Found", code="resource_not_found")
        if exc.status_code == 405:
            return error_body(405, error="Method Not Allowed", code="method_not_allowed")
        return error_body(exc.status_code, error=str(exc.detail))
