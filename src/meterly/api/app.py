"""The FastAPI application: Lago's REST API under /api/v1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from meterly.api.errors import install_error_handlers
from meterly.api.ingestion import IngestionLane, Receive, Scope, Send, is_ingestion
from meterly.api.routes import ROUTERS
from meterly.config import Settings
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
        if is_ingestion(scope):
            await self.ingestion(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or Settings.from_env()
    app = MeterlyApp(
        title="Meterly", version="0.1.0", docs_url="/docs", redoc_url=None, lifespan=_lifespan
    )
    app.state.settings = settings
    app.state.database = database or Database(create_engine(settings.database_url))
    app.state.clock = clock or clock_for(settings.frozen_time)
    app.state.event_writer = EventWriter(app.state.database)
    app.ingestion = IngestionLane(app.state.database, app.state.event_writer, app.state.clock)
    install_error_handlers(app)

    api = APIRouter(prefix="/api/v1")
    for router in ROUTERS:
        api.include_router(router)
    app.include_router(api)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"version": "0.1.0", "github_url": "", "message": "Success"}

    return app
