"""Installation-wide signing keys (not tied to an organization)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import Base


class SigningKey(Base):
    """Installation-wide keys, e.g. the RSA key that signs JWT webhooks (Lago's RS256)."""

    __tablename__ = "signing_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
