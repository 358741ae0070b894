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
