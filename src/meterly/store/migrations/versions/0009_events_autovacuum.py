"""events: vacuum after fewer inserts, so usage counts stay index-only

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 05:00:00

The usage cache checks an entry with a count read from `ix_events_usage` alone. On
PostgreSQL that is an index-only scan only for pages the visibility map marks all-visible,
and only a vacuum marks them. By default autovacuum waits for inserts worth 20 % of the
table, while the current period's events are the newest: the count would then visit the
heap (about 3 x slower). Vacuum after 1 % instead. SQLite needs nothing.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE events SET (autovacuum_vacuum_insert_scale_factor = 0.01,"
            " autovacuum_analyze_scale_factor = 0.02)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE events RESET (autovacuum_vacuum_insert_scale_factor,"
            " autovacuum_analyze_scale_factor)"
        )
