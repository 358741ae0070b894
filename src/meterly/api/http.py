"""Request plumbing shared by every route: auth, unit of work, bodies, answers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from meterly.api import limits
from meterly.api.errors import BadRequest, Unauthorized
from meterly.api.wire import pagination_meta
from meterly.config import Settings
from meterly.domain.errors import ValidationFailed
from meterly.services import activity
from meterly.services.accounts import authenticate, cached_organization, hash_secret
from meterly.services.common import Clock
from meterly.services.metering import EventWriter
from meterly.store.uow import Database

M = TypeVar("M", bound=BaseModel)


class Payload(BaseModel):
    """Base of every request model: unknown fields are ignored, as Lago's strong params do."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


def event_writer(request: Request) -> EventWriter:
    """The process's group-commit writer for ingestion (see services/metering/event_writer.py)."""
    writer: EventWriter = request.app.state.event_writer
    return writer


def clock(request: Request) -> Clock:
    value: Clock = request.app.state.clock
    return value


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


@contextmanager
def unit_of_work(request: Request) -> Iterator[Session]:
    with database(request).unit_of_work() as session:
        # The activity logs' actor (services/activity): the request's API key or dashboard
        # user, named by the auth dependency; a request that named nobody is the system.
        activity.act_as(session, getattr(request.state, "actor", activity.SYSTEM))
        activity.use_clock(session, clock(request))
        yield session


async def organization_id(request: Request) -> str:
    """FastAPI dependency: the organization of the Bearer key, or 401.

    Async, and free of the database when the key was seen in the last seconds: a request
    then needs no thread-pool hop to authenticate (this is the ingestion hot path).
    """
    header = request.headers.get("authorization", "")
    parts = header.split()
    # `Bearer <key>` and nothing else (the scheme word is case-insensitive, RFC 9110).
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise Unauthorized()
    org_id = cached_organization(parts[1])
    if org_id is None:
        org_id = await run_in_threadpool(_authenticate, database(request), parts[1])
    if org_id is None:
        raise Unauthorized()
    request.state.actor = activity.api_key_actor(key_hash=hash_secret(parts[1]))
    return org_id


def _authenticate(db: Database, secret: str) -> str | None:
    with db.sessions() as session:
        return authenticate(session, secret)


async def json_body(request: Request) -> Any:
    """FastAPI dependency: the parsed JSON body (None when empty)."""
    return parse_json(await request.body())


def parse_json(raw: bytes) -> Any:
    """A request body parsed (None when empty) and within api/limits.py's bounds.

    Lago's 400 for unreadable JSON; 422 for JSON that reads but is out of bounds (nested
    past the parser's own depth limit, a number beyond a double such as `1e400`).
    """
    if not raw.strip():
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        if "depth limit" in message:
            raise ValidationFailed.field("base", "value_is_too_deep") from None
        if "infinity" in message:
            raise ValidationFailed.field("base", "value_is_out_of_range") from None
        raise BadRequest("the body is not valid JSON") from None
    limits.check_body(body)
    return body


def root(body: Any, key: str) -> dict[str, Any]:
    """The object under Lago's root key, or Lago's 400 for a missing one."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"param is missing or the value is empty or invalid: {key}")
    value: dict[str, Any] = body[key]
    return value


def parse(model: type[M], data: Mapping[str, Any]) -> M:
    """Validate a request object; pydantic's complaints become Lago's error_details."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        details: dict[str, list[str]] = {}
        for err in exc.errors():
            loc = err.get("loc", ())
            field = ".".join(str(p) for p in loc) if loc else "base"
            code = "value_is_mandatory" if err.get("type") == "missing" else "value_is_invalid"
            details.setdefault(field, []).append(code)
        raise ValidationFailed(details) from None


def present(model: BaseModel) -> dict[str, Any]:
    """Fields the caller sent with a non-null value (the Lago client sends explicit nulls)."""
    return {k: v for k, v in model.model_dump(exclude_unset=True).items() if v is not None}


def json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def ok(payload: Mapping[str, Any]) -> Response:
    return Response(orjson.dumps(payload, default=json_default), media_type="application/json")


def envelope(root_key: str, obj: Mapping[str, Any]) -> Response:
    return ok({root_key: obj})


def page_params(request: Request) -> tuple[int, int]:
    try:
        page = max(int(request.query_params.get("page", 1)), 1)
        per_page = min(max(int(request.query_params.get("per_page", 100)), 1), limits.PER_PAGE_MAX)
    except ValueError:
        raise ValidationFailed.field("page", "value_is_invalid") from None
    return page, per_page


def listing(
    plural: str, items: list[dict[str, Any]], *, page: int, per_page: int, total: int
) -> Response:
    return ok(
        {plural: items, "meta": pagination_meta(page=page, per_page=per_page, total_count=total)}
    )


def query_list(request: Request, name: str) -> list[str]:
    """Rails-style array params: `status[]=a&status[]=b`, also `status=a`."""
    values = request.query_params.getlist(f"{name}[]") + request.query_params.getlist(name)
    return [v for v in values if v != ""]


def query_hash(request: Request, name: str) -> dict[str, str]:
    """Rails-style hash params: `group[region]=eu` -> {"region": "eu"}."""
    prefix = f"{name}["
    return {
        key[len(prefix) : -1]: value
        for key, value in request.query_params.multi_items()
        if key.startswith(prefix) and key.endswith("]") and not key.endswith("[]")
    }
