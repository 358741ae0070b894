"""The signing secret: generated and kept next to a SQLite database, required elsewhere."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from meterly.config import (
    MissingSecretKey,
    Settings,
    secret_key_path,
    sqlite_path,
    with_secret_key,
)

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/meterly"


def test_two_fresh_databases_get_different_secrets(tmp_path: Path) -> None:
    first = with_secret_key(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}"))
    second = with_secret_key(Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}"))
    assert first.signing_key != second.signing_key
    # 48 random bytes, URL-safe base64: 64 characters, unguessable.
    assert len(first.signing_key) == 64


def test_a_restart_keeps_the_secret_in_a_private_file_next_to_the_database(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'meterly.db'}"
    started = with_secret_key(Settings(database_url=url))
    restarted = with_secret_key(Settings(database_url=url))
    assert restarted.signing_key == started.signing_key
    kept = tmp_path / "data" / "meterly.db.secret-key"
    assert kept.read_text().strip() == started.signing_key
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert [p.name for p in kept.parent.iterdir()] == ["meterly.db.secret-key"]


def test_a_configured_secret_wins_and_no_file_is_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meterly.db'}"
    settings = with_secret_key(Settings(database_url=url, secret_key="configured"))
    assert settings.signing_key == "configured"
    assert not (tmp_path / "meterly.db.secret-key").exists()


def test_an_in_memory_database_gets_a_random_secret_per_start() -> None:
    first = with_secret_key(Settings(database_url="sqlite://"))
    second = with_secret_key(Settings(database_url="sqlite:///:memory:"))
    assert first.signing_key != second.signing_key


def test_postgresql_without_a_secret_refuses_with_a_clear_message() -> None:
    with pytest.raises(MissingSecretKey) as refused:
        with_secret_key(Settings(database_url=PG_URL))
    assert "METERLY_SECRET_KEY is not set" in str(refused.value.code)
    assert "postgresql" in str(refused.value.code)


def test_settings_built_in_code_may_sign_with_a_random_secret_of_the_process() -> None:
    first = with_secret_key(Settings(database_url=PG_URL), ephemeral=True)
    second = with_secret_key(Settings(database_url=PG_URL), ephemeral=True)
    assert first.signing_key != second.signing_key


def test_no_secret_is_readable_before_it_is_resolved() -> None:
    with pytest.raises(RuntimeError):
        _ = Settings(database_url=PG_URL).signing_key


def test_the_environment_names_the_secret_and_its_predecessors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("METERLY_SECRET_KEY", "new-secret")
    monkeypatch.setenv("METERLY_SECRET_KEY_PREVIOUS", "old-secret, older-secret,")
    settings = Settings.from_env(database_url=PG_URL)
    assert settings.signing_key == "new-secret"
    assert settings.verification_keys == ("new-secret", "old-secret", "older-secret")
    assert with_secret_key(settings) is settings


def test_sqlite_urls_name_their_file() -> None:
    assert sqlite_path("sqlite:///var/meterly.db") == Path("var/meterly.db")
    assert sqlite_path("sqlite:////srv/m.db?timeout=5") == Path("/srv/m.db")
    assert sqlite_path("sqlite+pysqlite:///x.db") == Path("x.db")
    assert sqlite_path("sqlite://") is None
    assert secret_key_path(Path("/srv/m.db")) == Path("/srv/m.db.secret-key")
