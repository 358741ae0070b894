"""The machine and the versions a run measured, and the throwaway databases it uses."""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_PREFIX = "meterly_bench_"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    if shutil.which("git") is None:
        return "unknown"
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
    )
    commit = result.stdout.strip() or "unknown"
    return commit + (" (src/ modified)" if dirty.stdout.strip() else "")


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server reachable with an admin URL (user postgres, trust auth)."""

    admin_url: str

    def connect(self, database: str | None = None) -> object:
        import psycopg

        return psycopg.connect(self.url(database) if database else self.admin_url, autocommit=True)

    def url(self, database: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + "/" + database

    def available(self) -> bool:
        try:
            import psycopg

            with psycopg.connect(self.admin_url, connect_timeout=3):
                return True
        except Exception:
            return False

    def create(self, template: str | None = None) -> str:
        import psycopg

        name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{suffix}')
        return name

    def drop(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def settings(self) -> dict[str, str]:
        import psycopg

        names = ["server_version", "shared_buffers", "work_mem", "synchronous_commit", "fsync"]
        with psycopg.connect(self.admin_url) as conn:
            return {n: str(conn.execute(f"SHOW {n}").fetchone()[0]) for n in names}  # type: ignore[index]


def machine_lines(postgres: Postgres | None) -> list[str]:
    lines = [
        f"* machine: {os.cpu_count()} cores (nproc), {_memory_gib()} memory, {_cpu_model()}, "
        f"{platform.system()} {platform.release()}",
        f"* Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"SQLAlchemy {_package('sqlalchemy')}, psycopg {_package('psycopg')}, "
        f"uvicorn {_package('uvicorn')} (uvloop {_package('uvloop')}, "
        f"httptools {_package('httptools')}), FastAPI {_package('fastapi')}, "
        f"httpx {_package('httpx')}, meterly {_package('meterly')} at commit {_git_commit()}",
    ]
    if postgres is not None:
        s = postgres.settings()
        lines.append(
            f"* PostgreSQL server {s['server_version']} at {postgres.admin_url.split('@')[-1]}: "
            f"shared_buffers={s['shared_buffers']}, work_mem={s['work_mem']}, "
            f"synchronous_commit={s['synchronous_commit']}, fsync={s['fsync']}"
        )
    else:
        lines.append("* PostgreSQL: not reachable, its rows are left out")
    lines.append(
        f"* command: {' '.join([Path(sys.executable).name, '-m', 'bench', *sys.argv[1:]])}"
    )
    return lines
