"""Alembic environment: Meterly passes its own engine in `config.attributes["connection"]`."""

from __future__ import annotations

from alembic import context

from meterly.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` command line: build an engine from the URL
    from meterly.store.engine import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
