"""Process settings from flags or environment. Standard library only: every layer may read it."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///var/meterly.db"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:3000"
# Request bodies (api/request_guard.py): 413 above these; the events lane may take more.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_EVENTS_BODY_BYTES = 4 * 1024 * 1024
# The file that keeps a generated signing secret, next to the SQLite database it serves.
SECRET_KEY_SUFFIX = ".secret-key"


class MissingSecretKey(SystemExit):
    """A server on a shared database (PostgreSQL) started without METERLY_SECRET_KEY.

    A SystemExit: the command or the server process stops with this message, no traceback.
    """

    def __init__(self, database_url: str) -> None:
        backend = backend_of(database_url)
        super().__init__(
            f"error: METERLY_SECRET_KEY is not set. A {backend} deployment needs a configured "
            "secret to sign portal links, document links and dashboard sessions (every "
            "process sharing the database must use the same one). Generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'` and set it in "
            "the environment of every Meterly process."
        )


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # Public base URL used in links Meterly hands out (file_url, portal_url).
    public_url: str = DEFAULT_PUBLIC_URL
    frozen_time: datetime | None = None
    # Signs portal links, document links and dashboard sessions. None until resolved by
    # `with_secret_key` (configured, or generated and kept next to a SQLite database).
    secret_key: str | None = None
    # Rotation: secrets that signed links still in circulation; they verify, never sign.
    previous_secret_keys: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_events_body_bytes: int = DEFAULT_MAX_EVENTS_BODY_BYTES

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": os.environ.get("METERLY_DATABASE_URL", DEFAULT_DATABASE_URL),
            "public_url": os.environ.get("METERLY_PUBLIC_URL", DEFAULT_PUBLIC_URL),
            "frozen_time": parse_instant(os.environ["METERLY_FROZEN_TIME"])
            if os.environ.get("METERLY_FROZEN_TIME")
            else None,
            "secret_key": os.environ.get("METERLY_SECRET_KEY", "").strip() or None,
            "previous_secret_keys": _key_list(os.environ.get("METERLY_SECRET_KEY_PREVIOUS", "")),
            "max_body_bytes": _size("METERLY_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            "max_events_body_bytes": _size(
                "METERLY_MAX_EVENTS_BODY_BYTES", DEFAULT_MAX_EVENTS_BODY_BYTES
            ),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def signing_key(self) -> str:
        """The secret that signs new links and sessions."""
        if not self.secret_key:
            raise RuntimeError("settings without a secret key: resolve them with with_secret_key")
        return self.secret_key

    @property
    def verification_keys(self) -> tuple[str, ...]:
        """Every secret a link or session may have been signed with: current first."""
        return (self.signing_key, *(k for k in self.previous_secret_keys if k))


def with_secret_key(
    settings: Settings, *, database_url: str | None = None, ephemeral: bool = False
) -> Settings:
    """The settings with a signing secret: the configured one, else the database's own.

    A SQLite database keeps a random secret generated on first start in a file next to it
    (`<database>.secret-key`, mode 0600), so a restart keeps links valid and `make run`
    needs no configuration; an in-memory database gets a random secret for this process.
    Any other database is shared by several processes that must agree on the secret, so it
    must be configured: MissingSecretKey, unless `ephemeral` (settings built in code, e.g.
    an embedded app) accepts a random secret that lives as long as this process.
    """
    if settings.secret_key:
        return settings
    url = database_url or settings.database_url
    if backend_of(url) == "sqlite":
        path = sqlite_path(url)
        key = _random_key() if path is None else _load_or_create_key(secret_key_path(path))
    elif ephemeral:
        key = _random_key()
    else:
        raise MissingSecretKey(url)
    return replace(settings, secret_key=key)


def backend_of(database_url: str) -> str:
    """`sqlite`, `postgresql`, ... from a SQLAlchemy URL (driver suffix dropped)."""
    scheme = database_url.split(":", 1)[0]
    return scheme.split("+", 1)[0].lower()


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    rest = database_url.split("://", 1)[1] if "://" in database_url else ""
    name = rest[1:] if rest.startswith("/") else rest
    name = name.split("?", 1)[0]
    if name in ("", ":memory:") or name.startswith("file::memory:"):
        return None
    return Path(name)


def secret_key_path(database_path: Path) -> Path:
    return database_path.with_name(database_path.name + SECRET_KEY_SUFFIX)


def _random_key() -> str:
    return secrets.token_urlsafe(48)


def _load_or_create_key(path: Path) -> str:
    """The secret in `path`, created atomically on first use (two processes agree on it)."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(_random_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # Fails if another process won the race: its secret is the one then read back.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise SystemExit(f"error: the signing secret file {path} is empty; remove it or fill it")
    return key


def _key_list(text: str) -> tuple[str, ...]:
    """`METERLY_SECRET_KEY_PREVIOUS`: one secret, or several separated by commas."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _size(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise SystemExit(f"error: {name} must be a positive number of bytes, not {text!r}")
    return int(text)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; a value without offset is read as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
