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


def test_no_plan_is_kept_from_when_a_table_was_empty(db_url: str) -> None:
    """A plan cached while a table (`invoices` at the start of a billing run) was empty
    would scan it whole once it holds thousands of rows: Meterly's connections never keep
    server-side prepared statements, however often a statement runs."""
    engine = create_engine(db_url)
    try:
        if engine.dialect.name != "postgresql":
            return
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TEMP TABLE grows (id text PRIMARY KEY, v int)")
            for n in range(10):  # psycopg prepares from the 5th execution by default
                conn.exec_driver_sql("UPDATE grows SET v = 1 WHERE id = %s", (str(n),))
            prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements")
            assert prepared.scalar_one() == 0
    finally:
        engine.dispose()
