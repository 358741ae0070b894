"""Operators: the people who sign in to the dashboard, their invitations and failed sign-ins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    # Stored lower-cased: one address signs in to one account, whatever its case.
    email: Mapped[str] = mapped_column(String(255), unique=True)
    # argon2id, with its parameters and salt in the string; never the password.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    # Bumped by "sign out everywhere": a session cookie carries the epoch it was issued in.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    # sha256 of the link's secret: a database reader cannot accept an invitation.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class SignInFailure(Base):
    """One failed sign-in: counted per account and per address over a sliding window."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        Index("ix_sign_in_failures_account_failed_at", "account", "failed_at"),
        Index("ix_sign_in_failures_address_failed_at", "address", "failed_at"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    account: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime]
