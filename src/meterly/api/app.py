"""The FastAPI application: Lago's REST API under /api/v1."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from starlette.routing import BaseRoute

from meterly.api import openapi, request_guard, throttle
from meterly.api.api_logs import ApiLogMiddleware
from meterly.api.errors import install_error_handlers
from meterly.api.health import health_answer
from meterly.api.ingestion import (
    IngestionLane,
    Receive,
    Scope,
    Send,
    ingest_timeout,
    is_ingestion,
)
from meterly.api.routes import ROUTERS, provider_webhooks
from meterly.config import Settings, with_secret_key
from meterly.services.common import Clock, clock_for
from meterly.services.metering import EventWriter
from meterly.store.engine import create_engine
from meterly.store.uow import Database


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.event_writer.close()  # let the writer finish its last commit


class MeterlyApp(FastAPI):
    """FastAPI, with the two ingestion paths answered before its routing (api/ingestion.py)."""

    ingestion: IngestionLane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if throttle.applies(scope):  # rate limits first: a refused request costs nothing
            limits: throttle.Throttle = self.state.throttle
            address = throttle.client_address(scope)
            wait = limits.admit(address, throttle.bearer_token(scope))
            if wait:
                await throttle.refuse(send, wait)
                return
            send = throttle.counting_failures(limits, address, send)
        ingestion = is_ingestion(scope)
        if request_guard.guards(scope):
            settings: Settings = self.state.settings
            max_body = settings.max_events_body_bytes if ingestion else settings.max_body_bytes
            refused = request_guard.refusal(scope, max_body=max_body)
            if refused is not None:
                await request_guard.answer(send, refused)
                return
            receive = request_guard.bounded(receive, max_body=max_body)
        if ingestion:
            await self.ingestion(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _signing_settings(settings: Settings, database: Database, *, from_env: bool) -> Settings:
    """Settings with the secret that signs links and sessions (config.with_secret_key).

    Settings from the environment are a deployment: on a shared database it refuses to
    start without METERLY_SECRET_KEY. Settings built in code without a secret (tests, an
    embedding program) sign with a random secret of this process, never a known one. The
    secret is looked up next to the database actually served, not the settings' URL.
    """
    served = database.engine.url.render_as_string(hide_password=False)
    return with_secret_key(settings, database_url=served, ephemeral=not from_env)


@functools.cache
def _api_routes() -> tuple[BaseRoute, ...]:
    """Lago's routes under /api/v1 and the provider webhooks, assembled once per process.

    Including ~250 routes analyses every endpoint's signature again (a third of a second);
    the routes hold no state of an app (they reach the database and clock through
    `request.app.state`), so every app of a process serves the same route objects.
    """
    assembled = APIRouter()
    api = APIRouter(prefix="/api/v1")
    for router in ROUTERS:
        api.include_router(router)
    assembled.include_router(api)
    # Payment providers post their webhooks at the root, signed, without an API key.
    assembled.include_router(provider_webhooks.router)
    return tuple(assembled.routes)


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    from_env = settings is None
    settings = settings or Settings.from_env()
    database = database or Database(create_engine(settings.database_url))
    settings = _signing_settings(settings, database, from_env=from_env)
    app = MeterlyApp(
        title="Meterly", version="0.1.0", docs_url="/docs", redoc_url=None, lifespan=_lifespan
    )
    app.state.settings = settings
    app.state.database = database
    app.state.clock = clock or clock_for(settings.frozen_time)
    app.state.throttle = throttle.Throttle.from_env()  # api/throttle.py
    app.state.event_writer = EventWriter(app.state.database, timeout=ingest_timeout())
    app.ingestion = IngestionLane(app.state.database, app.state.event_writer, app.state.clock)
    install_error_handlers(app)
    # One API log per API write (api/api_logs.py); ingestion is answered before this.
    app.add_middleware(ApiLogMiddleware, state=app.state)

    app.router.routes.extend(_api_routes())
    openapi.install(app)  # request bodies and Lago's error answers (api/openapi.py)

    @app.get("/health", include_in_schema=False)
    def health() -> Response:
        return health_answer(app.state.database, app.state.event_writer)

    return app
