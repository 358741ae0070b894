"""The real Meterly server, driven by the unmodified `lago-python-client`.

`lago_server` (module scope, parametrised over SQLite and PostgreSQL) prepares a fresh
database with the command line (`meterly db upgrade`, `meterly org create NAME --api-key KEY`),
starts `meterly serve` as a subprocess on a free loopback port, waits for `/health`, and
yields a `LagoServer`: `base_url`, `api_key`, `organization_id`, `database_url`, `backend`,
`frozen_time`, a ready `client` (lago_python_client.Client), `new_client(api_key=...)`,
`meterly(*args)` to run the CLI against the same database, `unique(prefix)` for codes that
do not collide between the tests of a module (they share one server), and `log()`.

Freeze the server's clock for a whole module by overriding `lago_frozen_time`:

    @pytest.fixture(scope="module")
    def lago_frozen_time() -> str:
        return "2024-01-15T12:00:00Z"
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from lago_python_client.client import Client

from meterly.store.engine import create_engine
from meterly.store.schema import upgrade
from tests.conftest import create_postgres_database, drop_postgres_database

ORGANIZATION_NAME = "Compat Inc"
STARTUP_TIMEOUT = 30.0


@dataclass
class LagoServer:
    backend: str
    database_url: str
    base_url: str
    api_key: str
    organization_id: str
    frozen_time: str | None
    log_path: Path
    # The client's own annotations confuse mypy (pydantic v1 models, generic mixins): Any.
    client: Any = field(init=False)

    def __post_init__(self) -> None:
        self.client = self.new_client()

    def new_client(self, api_key: str | None = None) -> Any:
        # api_url must end with "/": the client urljoins "api/v1/" onto it (reference §1, §9.11).
        return Client(api_key=api_key or self.api_key, api_url=f"{self.base_url}/")

    def meterly(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a `meterly` command against the server's database (raises when it fails)."""
        return run_cli(*args, "--database-url", self.database_url, frozen_time=self.frozen_time)

    def unique(self, prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex[:10]}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def cli_env(frozen_time: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METERLY_")}
    # A PostgreSQL server refuses to start without a configured signing secret.
    env["METERLY_SECRET_KEY"] = "compat-tests-signing-secret-not-for-production"
    if frozen_time is not None:
        env["METERLY_FROZEN_TIME"] = frozen_time
    return env


def run_cli(*args: str, frozen_time: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "meterly.cli", *args],
        env=cli_env(frozen_time),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"meterly {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def parse_fields(output: str) -> dict[str, str]:
    """The `name: value` lines `meterly org create` prints when not on a terminal."""
    pairs = (line.split(": ", 1) for line in output.splitlines() if ": " in line)
    return {name.strip(): value.strip() for name, value in pairs}


def wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> bool:
    """True once /health answers; False when the process died first (e.g. port taken)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    stop(process)
    log = log_path.read_text()
    raise AssertionError(f"Meterly did not answer /health in {STARTUP_TIMEOUT}s:\n{log}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_server(
    database_url: str, *, frozen_time: str | None, log_path: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `meterly serve` on a free port (retrying if another process grabbed it)."""
    for _attempt in range(3):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        # The tests drive billing themselves (`meterly bill`): no worker loops in the server.
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--database-url", database_url]
        args.append("--no-worker")
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "meterly.cli", *args],
                env=cli_env(frozen_time),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait_until_healthy(process, base_url, log_path):
            return process, base_url
        if "address already in use" not in log_path.read_text().lower():
            break
    raise AssertionError(f"Meterly exited before answering /health:\n{log_path.read_text()}")


def create_schema(database_url: str) -> None:
    """What `meterly db upgrade` does, in-process (a subprocess would cost a second)."""
    engine = create_engine(database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def lago_frozen_time() -> str | None:
    """The instant the server takes as now (METERLY_FROZEN_TIME); None for the real clock."""
    return None


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def lago_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database on each backend, for one test module."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('compat') / 'meterly.db'}"
        return
    admin_url: str = request.getfixturevalue("postgres_server")
    name, url = create_postgres_database(admin_url)
    try:
        yield url
    finally:
        drop_postgres_database(admin_url, name)


@pytest.fixture(scope="module")
def lago_server(
    lago_database_url: str,
    lago_frozen_time: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LagoServer]:
    """`meterly serve` on a fresh database with one organization; stopped after the module."""
    api_key = f"compat_{uuid.uuid4().hex}"
    create_schema(lago_database_url)
    created = run_cli(
        "org",
        "create",
        ORGANIZATION_NAME,
        "--api-key",
        api_key,
        "--database-url",
        lago_database_url,
        frozen_time=lago_frozen_time,
    )
    fields = parse_fields(created.stdout)
    assert fields["key"] == api_key, created.stdout
    log_path = tmp_path_factory.mktemp("server") / "meterly.log"
    process, base_url = start_server(
        lago_database_url, frozen_time=lago_frozen_time, log_path=log_path
    )
    try:
        yield LagoServer(
            backend="sqlite" if lago_database_url.startswith("sqlite") else "postgres",
            database_url=lago_database_url,
            base_url=base_url,
            api_key=api_key,
            organization_id=fields["organization"],
            frozen_time=lago_frozen_time,
            log_path=log_path,
        )
    finally:
        stop(process)


@pytest.fixture
def lago_client(lago_server: LagoServer) -> Any:
    """The official client, authenticated as the module's organization."""
    return lago_server.client
