"""Test clocks: a frozen instant of their own for the customers created under them (0028).

A customer attached to a clock (`customers.test_clock_id`) lives at the clock's time: the
live billing run and worker loops skip it, and advancing the clock bills it
(services/test_clocks).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base


class TestClock(Base):
    __tablename__ = "test_clocks"
    __test__ = False  # a table, not a pytest class

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str | None]
    frozen_time: Mapped[datetime]
    # ready | advancing: an advance holds the clock, so a second one at once is refused.
    status: Mapped[str] = mapped_column(String(16), default="ready")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
