"""What every table module builds on: the shared metadata, declarative `Base`, column types.

Alembic migrations (store/migrations) are generated from this metadata; the package
`meterly.store.tables` imports every table module, so importing any of them fills it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Self

from sqlalchemy import JSON, Index, MetaData, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, class_mapper
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

    @classmethod
    def new_row(cls, **values: Any) -> Self:
        """A new row holding `values`, as the constructor would, at a fraction of its cost.

        The ORM's constructor sets each attribute through its instrumentation (history,
        events): 30 columns cost as much as pricing the fee. A new row has no history to
        keep, and its INSERT reads the instance's dict, so the values go there directly,
        the way the ORM fills a row it loads. For rows made by the thousand (a billing
        run's fees); unknown names fail as the constructor's do.
        """
        unknown = values.keys() - _column_keys(cls)
        if unknown:
            raise TypeError(f"{sorted(unknown)} are not columns of {cls.__name__}")
        instance: Self = class_mapper(cls).class_manager.new_instance()
        instance.__dict__.update(values)
        return instance


_COLUMN_KEYS: dict[type, frozenset[str]] = {}


def _column_keys(cls: type[Base]) -> frozenset[str]:
    keys = _COLUMN_KEYS.get(cls)
    if keys is None:
        keys = _COLUMN_KEYS[cls] = frozenset(class_mapper(cls).column_attrs.keys())
    return keys


def _live_unique(name: str, *columns: str) -> Index:
    """Unique among rows not soft-deleted: Lago lets a deleted code be reused."""
    return Index(
        name, *columns, unique=True, sqlite_where=NOT_DELETED, postgresql_where=NOT_DELETED
    )
