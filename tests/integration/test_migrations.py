"""The Alembic migrations build exactly the schema the tables declare, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from meterly.store.engine import create_engine
from meterly.store.schema import current_revision, upgrade
from meterly.store.tables import metadata


def test_migrations_reach_head_and_match_the_tables(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        upgrade(engine)
        upgrade(engine)  # a second upgrade is a no-op
        assert current_revision(engine) is not None
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_events_are_vacuumed_early_on_postgresql(db_url: str) -> None:
    """Usage counts stay index-only scans only if new events are vacuumed soon (0009)."""
    engine = create_engine(db_url)
    try:
        upgrade(engine)
        if engine.dialect.name != "postgresql":
            return
        with engine.connect() as conn:
            options = conn.exec_driver_sql(
                "SELECT reloptions FROM pg_class WHERE relname = 'events'"
            ).scalar_one()
        assert "autovacuum_vacuum_insert_scale_factor=0.01" in options
    finally:
        engine.dispose()


def test_recent_migrations_go_down_and_up_again_over_billed_data(db_url: str) -> None:
    """A database in use holds rows that reference the tables recent migrations rebuild
    (SQLite rebuilds a table to add a column with a foreign key or drop one): going down
    to 0026 and up again keeps every row and every reference (schema.migrate)."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from meterly.services.common import FrozenClock
    from meterly.services.demo import seed
    from meterly.store.schema import downgrade
    from meterly.store.uow import Database

    engine = create_engine(db_url)
    try:
        upgrade(engine)
        seed(
            Database(engine),
            clock=FrozenClock(datetime(2024, 3, 15, tzinfo=UTC)),
            customers=4,
            months=1,
        )
        tables = ("customers", "subscriptions", "invoices", "fees", "events")

        def counts() -> dict[str, int]:
            with engine.connect() as conn:
                return {
                    t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables
                }

        before = counts()
        assert before["subscriptions"] == 4 and before["invoices"] > 0
        downgrade(engine, "0026")
        assert current_revision(engine) == "0026"
        upgrade(engine)
        assert counts() == before
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            if engine.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert diff == []
    finally:
        engine.dispose()


def test_a_plan_cached_on_an_empty_table_is_not_kept_once_it_grew(db_url: str) -> None:
    """Statements prepared while a table (`invoices` at the start of a billing run) was
    empty, by psycopg or by PostgreSQL's own foreign-key checks, must not scan it whole
    once it holds thousands of rows: every execution is planned for the table as it is."""
    engine = create_engine(db_url)
    try:
        if engine.dialect.name != "postgresql":
            return
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TEMP TABLE grows (id text PRIMARY KEY, v int)")
            conn.exec_driver_sql("ANALYZE grows")  # analyzed empty, as a fresh database is
            conn.exec_driver_sql("PREPARE touch(text) AS UPDATE grows SET v = 1 WHERE id = $1")
            for _ in range(6):  # past the 5 custom plans after which a generic one is kept
                conn.exec_driver_sql("EXECUTE touch('none')")
            conn.exec_driver_sql(
                "INSERT INTO grows SELECT g::text, 0 FROM generate_series(1, 20000) AS g"
            )
            plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN EXECUTE touch('17')"))
        assert "Index Scan using grows_pkey" in plan, plan
    finally:
        engine.dispose()
