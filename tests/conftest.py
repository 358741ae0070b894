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


# --- migrated databases, cloned from a template -------------------------------------
# Running every migration for each test dominates the suite's time. Each test process
# migrates one template per backend once; tests get a copy (CREATE DATABASE ... TEMPLATE on
# PostgreSQL, a file copy on SQLite), still a fresh database of their own.


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from meterly.store.engine import create_engine
    from meterly.store.schema import upgrade

    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    from meterly.store.engine import create_engine
    from meterly.store.schema import upgrade

    name, url = create_postgres_database(postgres_server)
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield name
    finally:
        drop_postgres_database(postgres_server, name)


@pytest.fixture
def migrated_sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    import shutil

    target = tmp_path / "meterly.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


# A PostgreSQL clone costs a CREATE DATABASE (the template written through the WAL) and a
# DROP; on 2 cores that was seconds per test under load. So each test process keeps the
# clones it made and hands a used one back after emptying it: every connection to it is
# ended (as DROP ... WITH (FORCE) would), every table but alembic_version is emptied with
# the foreign-key triggers off, and the clone is reused only when its schema still has the
# template's fingerprint (a test that altered or downgraded it gets its clone dropped).
_POSTGRES_POOL: list[str] = []
_FINGERPRINT_SQL = """
SELECT md5(coalesce(string_agg(item, ',' ORDER BY item), '')) FROM (
  SELECT table_name || '.' || column_name || ':' || data_type AS item
    FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL SELECT indexname || ':' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL SELECT 'version:' || version_num FROM alembic_version
) AS parts
"""


@pytest.fixture(scope="session")
def postgres_fingerprint(postgres_server: str, postgres_template: str) -> Iterator[str]:
    import psycopg

    base = postgres_server.replace("postgresql+psycopg", "postgresql").rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/{postgres_template}", autocommit=True) as conn:
        row = conn.execute(_FINGERPRINT_SQL).fetchone()
    assert row is not None
    try:
        yield str(row[0])
    finally:
        while _POSTGRES_POOL:
            drop_postgres_database(postgres_server, _POSTGRES_POOL.pop())


def _empty_for_reuse(postgres_server: str, name: str, fingerprint: str) -> bool:
    """Empty a used clone; True when it is again what the template was."""
    import psycopg

    admin = postgres_server.replace("postgresql+psycopg", "postgresql")
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        with psycopg.connect(f"{admin.rsplit('/', 1)[0]}/{name}") as conn:
            row = conn.execute(_FINGERPRINT_SQL).fetchone()
            if row is None or row[0] != fingerprint:
                return False
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'alembic_version'"
                )
            ]
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                conn.execute(f'DELETE FROM "{table}"')
            conn.commit()
        return True
    except psycopg.Error:
        return False


@pytest.fixture
def migrated_postgres_url(
    postgres_server: str, postgres_template: str, postgres_fingerprint: str
) -> Iterator[str]:
    import psycopg

    if _POSTGRES_POOL:
        name = _POSTGRES_POOL.pop()
    else:
        name = f"meterly_test_{uuid.uuid4().hex[:12]}"
        admin = postgres_server.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    try:
        yield f"{postgres_server.rsplit('/', 1)[0]}/{name}"
    finally:
        if _empty_for_reuse(postgres_server, name, postgres_fingerprint):
            _POSTGRES_POOL.append(name)
        else:
            drop_postgres_database(postgres_server, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated_db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database at the head migration, on each backend."""
    fixture = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database URL on each backend (schema not created)."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


# --- application fixtures ------------------------------------------------------------

from datetime import UTC, datetime  # noqa: E402

from meterly.services.common import FrozenClock  # noqa: E402


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2024, 1, 15, 12, 0, tzinfo=UTC))


class ApiClient:
    """A TestClient bound to one organization's key, with Lago-ish helpers."""

    def __init__(self, client: object, key: str, org_id: str, database: object = None) -> None:
        from fastapi.testclient import TestClient

        assert isinstance(client, TestClient)
        self.client = client
        self.key = key
        self.org_id = org_id
        self.database = database
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str, **kw: object) -> object:
        return self.client.get(f"/api/v1/{path}", headers=self.headers, **kw)  # type: ignore[arg-type]

    def post(self, path: str, json: object = None, **kw: object) -> object:
        return self.client.post(f"/api/v1/{path}", json=json, headers=self.headers, **kw)  # type: ignore[arg-type]

    def put(self, path: str, json: object = None, **kw: object) -> object:
        return self.client.put(f"/api/v1/{path}", json=json, headers=self.headers, **kw)  # type: ignore[arg-type]

    def delete(self, path: str, **kw: object) -> object:
        return self.client.delete(f"/api/v1/{path}", headers=self.headers, **kw)  # type: ignore[arg-type]


def build_api(db_url: str, clock: FrozenClock, *, migrate: bool = True) -> tuple[object, object]:
    from fastapi.testclient import TestClient

    from meterly.api.app import create_app
    from meterly.config import Settings
    from meterly.services.accounts import create_organization
    from meterly.store.engine import create_engine
    from meterly.store.schema import upgrade
    from meterly.store.uow import Database

    database = Database(create_engine(db_url))
    if migrate:
        upgrade(database.engine)
    app = create_app(Settings(database_url=db_url), database=database, clock=clock)
    with database.unit_of_work() as session:
        org, key = create_organization(session, name="Acme", clock=clock)
        org_id = org.id
    return TestClient(app), (key.secret, org_id, database)


@pytest.fixture
def api(migrated_db_url: str, clock: FrozenClock) -> Iterator[ApiClient]:
    """The API on a fresh database of each backend, with one organization and its key."""
    client, (secret, org_id, database) = build_api(migrated_db_url, clock, migrate=False)  # type: ignore[misc]
    with client:  # type: ignore[attr-defined]
        yield ApiClient(client, secret, org_id, database)
    database.engine.dispose()  # type: ignore[attr-defined]


# --- the ClickHouse event store (chdb, in process) ------------------------------------


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A chdb data directory for this test process (chdb opens one per process).

    Without chdb the tests skip with the reason, except under CI=true, where they fail:
    CI installs it (`pip install -e '.[test]'`).
    """
    try:
        import chdb  # noqa: F401
    except ImportError as exc:
        reason = f"chdb is not installed ({exc}): pip install -e '.[test]'"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def chdb_events(chdb_path: Path) -> object:
    """The ClickHouse event store on chdb, its events table created and emptied."""
    from meterly.store.event_stores import ClickHouseEvents

    store = ClickHouseEvents(f"chdb://{chdb_path}")
    store.create_schema()
    store.truncate()
    return store
