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


class Forbidden(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def error_body(status: int, **fields: Any) -> Response:
    body = orjson.dumps({"status": status, **fields})
    return Response(body, status_code=status, media_type="application/json")


def unprocessable(details: dict[str, Any], code: str = "validation_errors") -> Response:
    return error_body(422, error="Unprocessable Entity", code=code, error_details=details)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BadRequest)
    async def _bad_request(_: Request, exc: BadRequest) -> Response:
        return error_body(400, error=f"BadRequest: {exc.message}")

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, __: Unauthorized) -> Response:
        return error_body(401, error="Unauthorized")

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> Response:
        return error_body(403, error="Forbidden", code=exc.code)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> Response:
        return error_body(404, error="Not Found", code=exc.code)

    @app.exception_handler(NotAllowed)
    async def _not_allowed(_: Request, exc: NotAllowed) -> Response:
        return error_body(405, error="Method Not Allowed", code=exc.code)

    @app.exception_handler(ValidationFailed)
    async def _invalid(_: Request, exc: ValidationFailed) -> Response:
        return unprocessable(exc.details)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> Response:
        return error_body(422, error="Unprocessable Entity", code=exc.code)

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
