"""`meterly serve`: upgrade the schema, then serve the API with uvicorn."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from meterly.cli.common import DatabaseUrl, fail, open_database, settings_for
from meterly.cli.db import upgrade_schema
from meterly.cli.output import say
from meterly.config import DEFAULT_DATABASE_URL, Settings, with_secret_key
from meterly.services.common import clock_for

# The app factory, named by string: uvicorn imports it in every worker process, and the CLI
# stays independent of the api package (the layer contract keeps adapters apart). The web
# factory is the API's app with the portal and the dashboard mounted.
APP_FACTORY = "meterly.web.app:create_app"

Host = Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 for every one).")]
Port = Annotated[int, typer.Option(help="TCP port.")]
Workers = Annotated[int, typer.Option(min=1, help="Worker processes (PostgreSQL scales best).")]
AccessLog = Annotated[bool, typer.Option(help="Log every request (slower).")]
NoWorker = Annotated[
    bool,
    typer.Option(
        "--no-worker",
        help="Serve only: run `meterly worker` elsewhere (multi-process deployments).",
    ),
]


def serve(
    host: Host = "127.0.0.1",
    port: Port = 3000,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    workers: Workers = 1,
    access_log: AccessLog = False,
    no_worker: NoWorker = False,
) -> None:
    """Create or upgrade the schema, then serve Lago's REST API under /api/v1 (and bill)."""
    ensure_port_free(host, port)
    upgrade_schema(database_url)
    run_server(
        settings_for(database_url),
        host=host,
        port=port,
        workers=workers,
        log=access_log,
        with_worker=not no_worker,
    )


def run_server(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int = 1,
    log: bool = False,
    with_worker: bool = True,
    notes: Sequence[str] = (),
) -> None:
    """Serve until interrupted. Settings reach the app (and every worker) via METERLY_* vars.

    With `with_worker`, the worker's loops (billing, webhook delivery, spend checks, see
    jobs/worker.py) run on threads of this process, once however many HTTP workers serve,
    and stop when the server does.
    """
    import uvicorn  # imported here: the other commands start faster without it

    # Refuse now, before listening, without a signing secret on a shared database; on
    # SQLite this creates the secret file once, before the worker processes read it.
    settings = with_secret_key(settings)
    base_url = f"http://{display_host(host)}:{port}"
    export_settings(settings, public_url=base_url)
    backend = make_url(settings.database_url).get_backend_name()
    frozen = f", time frozen at {settings.frozen_time.isoformat()}" if settings.frozen_time else ""
    with open_database(settings.database_url) as database:
        running = None
        if with_worker:
            from meterly.jobs import worker  # httpx and the renderers: only when serving

            running = worker.start(database, clock_for(settings.frozen_time))
        say(f"Meterly on {base_url} ({backend}{frozen}). Ctrl+C stops it.")
        say(f"  API:       {base_url}/api/v1")
        say(f"  Dashboard: {base_url}/dashboard")
        for note in notes:
            say(f"  {note}")
        if running is not None:
            names = ", ".join(thread.name for thread in running.threads)
            say(f"  Worker:    running in this process ({names})")
        else:
            say("  Worker:    not started (--no-worker): run `meterly worker` beside it")
        try:
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
        finally:
            if running is not None:
                running.stop()


def ensure_port_free(host: str, port: int) -> None:
    """Exit with a clear message, before printing any banner, when the port is taken.

    uvicorn would only log the bind error after the start-up messages; binding a probe
    socket the way it does (SO_REUSEADDR) tells first.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                fail(
                    f"port {port} on {host} is already in use (another Meterly, or another "
                    f"program). Stop it, or choose another port with --port."
                )
            fail(f"cannot listen on {host}:{port}: {error.strerror}")


def export_settings(settings: Settings, *, public_url: str) -> None:
    os.environ["METERLY_DATABASE_URL"] = settings.database_url
    if settings.frozen_time is not None:
        os.environ["METERLY_FROZEN_TIME"] = settings.frozen_time.isoformat()
    os.environ.setdefault("METERLY_PUBLIC_URL", public_url)


def display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
