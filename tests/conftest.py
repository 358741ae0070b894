"""Fixtures shared by every test: database backends.

`db_url` is parametrised over SQLite and PostgreSQL. PostgreSQL tests create their own
database on 127.0.0.1:5432 and drop it afterwards; when no server answers they skip with
the reason, except under METERLY_REQUIRE_POSTGRES=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "METERLY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(
            PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3
        ):
            return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    reason = _postgres_available()
    if reason is not None:
        if os.environ.get("METERLY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"METERLY_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return PG_ADMIN_URL


def create_postgres_database(admin_url: str) -> tuple[str, str]:
    import psycopg

    name = f"meterly_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        admin_url.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def drop_postgres_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(
        admin_url.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    name, url = create_postgres_database(postgres_server)
    try:
        yield url
    finally:
        drop_postgres_database(postgres_server, name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'meterly.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database URL on each backend (schema not created)."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url
