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
