"""The application factory that serves Lago's API and the web interfaces together."""

from __future__ import annotations

from fastapi import FastAPI

from meterly.api.app import create_app as create_api_app
from meterly.config import Settings
from meterly.services.common import Clock
from meterly.store.uow import Database
from meterly.web import install_web


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    app = create_api_app(settings, database=database, clock=clock)
    install_web(app)
    return app
