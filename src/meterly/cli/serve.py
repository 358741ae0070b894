"""`meterly serve`: upgrade the schema, then serve the API with uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from meterly.cli.common import DatabaseUrl, settings_for
from meterly.cli.db import upgrade_schema
from meterly.cli.output import say
from meterly.config import DEFAULT_DATABASE_URL, Settings, with_secret_key

# The app factory, named by string: uvicorn imports it in every worker process, and the CLI
# stays independent of the api package (the layer contract keeps adapters apart). The web
# factory is the API's app with the portal and the dashboard mounted.
APP_FACTORY = "meterly.web.app:create_app"

Host = Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 for every one).")]
Port = Annotated[int, typer.Option(help="TCP port.")]
Workers = Annotated[int, typer.Option(min=1, help="Worker processes (PostgreSQL scales best).")]
AccessLog = Annotated[bool, typer.Option(help="Log every request (slower).")]


def serve(
    host: Host = "127.0.0.1",
    port: Port = 3000,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    workers: Workers = 1,
    access_log: AccessLog = False,
) -> None:
    """Create or upgrade the schema, then serve Lago's REST API under /api/v1."""
    upgrade_schema(database_url)
    run_server(settings_for(database_url), host=host, port=port, workers=workers, log=access_log)


def run_server(
    settings: Settings, *, host: str, port: int, workers: int = 1, log: bool = False
) -> None:
    """Serve until interrupted. Settings reach the app (and every worker) via METERLY_* vars."""
    import uvicorn  # imported here: the other commands start faster without it

    # Refuse now, before listening, without a signing secret on a shared database; on
    # SQLite this creates the secret file once, before the worker processes read it.
    settings = with_secret_key(settings)
    export_settings(settings, public_url=f"http://{display_host(host)}:{port}")
    backend = make_url(settings.database_url).get_backend_name()
    frozen = f", time frozen at {settings.frozen_time.isoformat()}" if settings.frozen_time else ""
    say(f"Meterly on http://{display_host(host)}:{port} ({backend}{frozen}). Ctrl+C stops it.")
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=log,
        log_level="info" if log else "warning",
        server_header=False,
    )


def export_settings(settings: Settings, *, public_url: str) -> None:
    os.environ["METERLY_DATABASE_URL"] = settings.database_url
    if settings.frozen_time is not None:
        os.environ["METERLY_FROZEN_TIME"] = settings.frozen_time.isoformat()
    os.environ.setdefault("METERLY_PUBLIC_URL", public_url)


def display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
