"""What every table module builds on: the shared metadata, declarative `Base`, column types.

Alembic migrations (store/migrations) are generated from this metadata; the package
`meterly.store.tables` imports every table module, so importing any of them fills it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Index, MetaData, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeEngine

from meterly.store.types import AwareDateTime, ExactDecimal

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# Annotated: every table module imports these, and they type-check as column types there.
Json: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")
UUID: String = String(36)
NOT_DELETED = text("deleted_at IS NULL")


class Base(DeclarativeBase):
    metadata = metadata
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's declared mapping
        datetime: AwareDateTime(),
        Decimal: ExactDecimal(),
        dict[str, Any]: Json,
        list[Any]: Json,
        str: String(255),
    }


def _live_unique(name: str, *columns: str) -> Index:
    """Unique among rows not soft-deleted: Lago lets a deleted code be reused."""
    return Index(
        name, *columns, unique=True, sqlite_where=NOT_DELETED, postgresql_where=NOT_DELETED
    )
