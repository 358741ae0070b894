"""Billing runs shared by several workers: the run, and its batches claimed under a lease.

A run is opened once per scope (every organization, or one); its batches of subscriptions
are claimed one at a time by whichever worker asks first. A batch whose lease ran out (its
worker died) is claimed again. The (subscription, boundary) key on invoices stays the final
guard: a claim only keeps two workers from doing the same work, never makes billing correct.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json


class BillingRun(Base):
    """One billing run: `as_of` is the instant every batch of it bills as of.

    `open_scope` equals `scope` while the run has batches left and is NULL once finished:
    its unique index lets one run per scope be open at a time (NULLs never collide).
    """

    __tablename__ = "billing_runs"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    scope: Mapped[str] = mapped_column(String(36))
    open_scope: Mapped[str | None] = mapped_column(String(36), unique=True)
    as_of: Mapped[datetime]
    # How many subscriptions its batches hold (a joining worker's progress bar).
    subscriptions: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class BillingRunBatch(Base):
    """A batch of a run's subscriptions (a customer's never split), claimed under a lease."""

    __tablename__ = "billing_run_batches"
    __table_args__ = (UniqueConstraint("run_id", "position"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("billing_runs.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    subscription_ids: Mapped[list[Any]] = mapped_column(Json)
    # "host:pid:token" of the worker holding the lease, so a dead process on the same host
    # is recognised without waiting for its lease to run out.
    holder: Mapped[str | None] = mapped_column(String(160))
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None]
