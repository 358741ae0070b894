"""Process settings from flags or environment. Standard library only: every layer may read it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

DEFAULT_DATABASE_URL = "sqlite:///var/meterly.db"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:3000"
DEFAULT_SECRET_KEY = "meterly-dev-secret-change-me"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # Public base URL used in links Meterly hands out (file_url, portal_url).
    public_url: str = DEFAULT_PUBLIC_URL
    frozen_time: datetime | None = None
    # Secret for signed links (customer portal, file downloads).
    secret_key: str = DEFAULT_SECRET_KEY

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": os.environ.get("METERLY_DATABASE_URL", DEFAULT_DATABASE_URL),
            "public_url": os.environ.get("METERLY_PUBLIC_URL", DEFAULT_PUBLIC_URL),
            "frozen_time": parse_instant(os.environ["METERLY_FROZEN_TIME"])
            if os.environ.get("METERLY_FROZEN_TIME")
            else None,
            "secret_key": os.environ.get("METERLY_SECRET_KEY", DEFAULT_SECRET_KEY),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; a value without offset is read as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
