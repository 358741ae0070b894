"""Create or upgrade the schema with Alembic, from inside the installed package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    migrate(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    migrate(engine, lambda config: command.downgrade(config, revision))


def migrate(engine: Engine, step: Callable[[Config], None]) -> None:
    """Run an Alembic command in one transaction on one connection.

    On SQLite, a batch migration rebuilds a table (copy, DROP the old, rename the copy);
    with foreign keys on, dropping a table other rows reference fails, and deferring the
    checks does not help (the rows the DROP deletes stay counted as violations). So, as
    SQLite's own procedure for altering a table says, foreign keys are switched off around
    the transaction (the pragma is ignored inside one), and `foreign_key_check` proves
    before the end that every reference still holds.
    """
    config = alembic_config()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                step(config)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left broken references: {broken[:5]}")
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    # Several heads only while branches are being merged; name them all, in a stable order.
    return "+".join(sorted(heads)) or None
