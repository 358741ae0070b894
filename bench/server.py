"""The real `meterly serve` process: started on a free loopback port, stopped afterwards."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.databases import Database

STARTUP_TIMEOUT = 60.0


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    api_key: str
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its worker processes so far (Linux /proc)."""
        return sum(_cpu_of(pid) for pid in _tree(self.process.pid))

    def client(self, timeout: float = 600.0) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base_url}/api/v1",
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=timeout,
        )


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [root], [root]
    while todo:
        pid = todo.pop()
        children = [c for c, p in parents.items() if p == pid]
        found += children
        todo += children
    return found


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(frozen_time: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METERLY_")}
    if frozen_time:
        env["METERLY_FROZEN_TIME"] = frozen_time
    # A server on PostgreSQL refuses to start without a signing secret; a fresh random one
    # per benchmark server is what an operator would configure.
    env["METERLY_SECRET_KEY"] = secrets.token_urlsafe(32)
    return env


@contextmanager
def serve(
    db: Database, *, log_dir: Path, workers: int = 1, frozen_time: str | None = None
) -> Iterator[Server]:
    """`meterly serve --host 127.0.0.1 --port P --database-url URL --workers N`."""
    log_path = log_dir / f"server_{db.backend}_{os.getpid()}_{time.monotonic_ns()}.log"
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "meterly.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database-url",
        db.url,
        "--workers",
        str(workers),
        # The benchmarks bill on their own clock: no billing loop inside the server.
        "--no-worker",
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            args, env=_env(frozen_time), stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(process, "127.0.0.1", port, db.api_key, log_path)
    try:
        _wait_healthy(server)
        yield server
    finally:
        _stop(process)


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"meterly serve exited:\n{server.log_path.read_text()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"meterly serve did not answer /health:\n{server.log_path.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
