"""The `meterly` command, in-process with Typer's CliRunner, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from meterly.api.app import create_app
from meterly.cli import quickstart as quickstart_module
from meterly.cli.db import head_revision
from meterly.cli.main import app
from meterly.config import Settings

runner = CliRunner()


def meterly(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), env=env)


def ok(*args: str, env: dict[str, str] | None = None) -> Result:
    result = meterly(*args, env=env)
    assert result.exit_code == 0, result.output
    return result


def fields(result: Result) -> dict[str, str]:
    """The `name: value` lines a command prints when stdout is not a terminal."""
    pairs = (line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    return dict(pairs)


def rows(result: Result) -> list[dict[str, str]]:
    """A table printed as tab-separated lines, header first."""
    header, *lines = result.stdout.splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]


@pytest.fixture(autouse=True)
def in_a_scratch_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command run without --database-url must not touch the checkout's var/meterly.db."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("METERLY_DATABASE_URL", raising=False)
    monkeypatch.delenv("METERLY_FROZEN_TIME", raising=False)


@pytest.fixture
def url(db_url: str) -> str:
    """A database of each backend with the schema created by `meterly db upgrade`."""
    ok("db", "upgrade", "--database-url", db_url)
    return db_url


@pytest.fixture
def http(url: str) -> Iterator[TestClient]:
    """The API on the same database, to prove the keys the CLI prints work."""
    application = create_app(Settings(database_url=url))
    with TestClient(application) as client:
        yield client
    application.state.database.engine.dispose()


def status_with(http: TestClient, key: str) -> int:
    response = http.get("/api/v1/billable_metrics", headers={"Authorization": f"Bearer {key}"})
    status: int = response.status_code
    return status


def create_org(url: str, *args: str) -> dict[str, str]:
    return fields(ok("org", "create", "Acme", *args, "--database-url", url))


# --- db ------------------------------------------------------------------------------


def test_db_upgrade_is_idempotent_and_current_prints_the_head(db_url: str) -> None:
    head = head_revision()
    assert head
    assert ok("db", "upgrade", "--database-url", db_url).stdout == f"schema: {head} (head)\n"
    assert ok("db", "upgrade", "--database-url", db_url).stdout == f"schema: {head} (head)\n"
    assert ok("db", "current", "--database-url", db_url).stdout == f"schema: {head} (head)\n"


def test_db_current_on_an_empty_database_says_none(sqlite_url: str) -> None:
    result = ok("db", "current", "--database-url", sqlite_url)
    assert result.stdout.startswith("schema: none")
    assert "db upgrade" in result.stdout


def test_database_url_is_read_from_the_environment(sqlite_url: str) -> None:
    ok("db", "upgrade", env={"METERLY_DATABASE_URL": sqlite_url})
    result = ok("db", "current", "--database-url", sqlite_url)
    assert result.stdout.endswith("(head)\n")


def test_commands_on_a_database_without_schema_say_how_to_create_it(sqlite_url: str) -> None:
    result = meterly("org", "create", "Acme", "--database-url", sqlite_url)
    assert result.exit_code == 1
    assert "db upgrade" in result.stderr


# --- org -----------------------------------------------------------------------------


def test_org_create_with_a_chosen_key_prints_it_and_the_key_works(
    url: str, http: TestClient
) -> None:
    created = create_org(url, "--api-key", "my-chosen-key-0123456789")
    assert created["key"] == "my-chosen-key-0123456789"
    assert created["organization"]
    assert status_with(http, "my-chosen-key-0123456789") == 200


def test_org_create_without_a_key_generates_one_that_works(url: str, http: TestClient) -> None:
    created = create_org(url)
    assert created["key"].startswith("mtr_")
    assert len(created["key"]) > 32
    assert status_with(http, created["key"]) == 200


def test_org_create_sets_currency_and_timezone(url: str, http: TestClient) -> None:
    created = create_org(url, "--currency", "eur", "--timezone", "Europe/Paris")
    response = http.get(
        "/api/v1/organizations", headers={"Authorization": f"Bearer {created['key']}"}
    )
    organization = response.json()["organization"]
    assert (organization["name"], organization["timezone"]) == ("Acme", "Europe/Paris")
    assert organization["default_currency"] == "EUR"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--currency", "ZZZ"], "unknown currency"),
        (["--timezone", "Mars/Olympus"], "unknown timezone"),
        (["--api-key", "short"], "api_key: value_is_too_short"),
    ],
)
def test_org_create_rejects_bad_input_and_creates_nothing(
    sqlite_url: str, args: list[str], message: str
) -> None:
    ok("db", "upgrade", "--database-url", sqlite_url)
    result = meterly("org", "create", "Acme", *args, "--database-url", sqlite_url)
    assert result.exit_code == 1
    assert message in result.stderr
    assert rows(ok("org", "list", "--database-url", sqlite_url)) == []


def test_org_create_rejects_a_key_already_in_use(url: str) -> None:
    create_org(url, "--api-key", "shared-key-0123456789")
    result = meterly(
        "org", "create", "Other", "--api-key", "shared-key-0123456789", "--database-url", url
    )
    assert result.exit_code == 1
    assert "api_key: value_already_exist" in result.stderr
    assert [row["name"] for row in rows(ok("org", "list", "--database-url", url))] == ["Acme"]


def test_org_list_shows_every_organization_oldest_first(url: str) -> None:
    first = create_org(url)
    ok("org", "create", "Beta", "--database-url", url)
    listed = rows(ok("org", "list", "--database-url", url))
    assert [row["name"] for row in listed] == ["Acme", "Beta"]
    assert listed[0]["id"] == first["organization"]
    assert listed[0]["currency"] == "USD"


def test_frozen_time_is_now_for_commands(url: str) -> None:
    env = {"METERLY_FROZEN_TIME": "2024-03-01T08:30:00Z"}
    ok("org", "create", "Frozen", "--database-url", url, env=env)
    listed = rows(ok("org", "list", "--database-url", url))
    assert listed[0]["created_at"] == "2024-03-01T08:30:00Z"


# --- api-key -------------------------------------------------------------------------


def test_api_key_create_issues_a_working_key(url: str, http: TestClient) -> None:
    org = create_org(url)["organization"]
    issued = fields(ok("api-key", "create", "--org", org, "--name", "ci", "--database-url", url))
    assert issued["organization"] == org
    assert issued["key"].startswith("mtr_")
    assert status_with(http, issued["key"]) == 200


def test_api_key_list_shows_prefixes_never_secrets(url: str) -> None:
    created = create_org(url)
    org = created["organization"]
    issued = fields(ok("api-key", "create", "--org", org, "--name", "ci", "--database-url", url))
    result = ok("api-key", "list", "--org", org, "--database-url", url)
    listed = rows(result)
    assert [row["id"] for row in listed] == [created["key_id"], issued["key_id"]]
    assert [row["name"] for row in listed] == ["", "ci"]
    assert listed[1]["prefix"] == f"{issued['key'][:8]}…"
    assert all(row["status"] == "active" for row in listed)
    assert created["key"] not in result.stdout
    assert issued["key"] not in result.stdout


def test_revoked_key_gets_401_and_is_listed_as_revoked(url: str, http: TestClient) -> None:
    created = create_org(url)
    assert status_with(http, created["key"]) == 200
    result = ok("api-key", "revoke", created["key_id"], "--database-url", url)
    assert result.stdout == f"revoked: {created['key_id']}\n"
    assert status_with(http, created["key"]) == 401
    listed = rows(ok("api-key", "list", "--org", created["organization"], "--database-url", url))
    assert listed[0]["status"] == "revoked"


def test_api_key_commands_on_an_unknown_org_fail(sqlite_url: str) -> None:
    ok("db", "upgrade", "--database-url", sqlite_url)
    missing = "00000000-0000-0000-0000-000000000000"
    for command in ("create", "list"):
        result = meterly("api-key", command, "--org", missing, "--database-url", sqlite_url)
        assert result.exit_code == 1
        assert "organization not found" in result.stderr
    result = meterly("api-key", "revoke", missing, "--database-url", sqlite_url)
    assert result.exit_code == 1
    assert "api key not found" in result.stderr


# --- serve and quickstart (the server itself is not started here) --------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append((args, kwargs))


@pytest.fixture
def uvicorn_run(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    import uvicorn

    recorder = Recorder()
    monkeypatch.setattr(uvicorn, "run", recorder)
    for name in ("METERLY_DATABASE_URL", "METERLY_FROZEN_TIME", "METERLY_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    return recorder


def test_serve_upgrades_the_schema_and_hands_settings_to_uvicorn(
    sqlite_url: str, uvicorn_run: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METERLY_FROZEN_TIME", "2024-01-15T12:00:00Z")
    ok("serve", "--port", "3999", "--database-url", sqlite_url, "--workers", "2")
    ((args, kwargs),) = uvicorn_run.calls
    assert args == ("meterly.web.app:create_app",)
    assert kwargs["factory"] is True
    assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("127.0.0.1", 3999, 2)
    assert kwargs["access_log"] is False
    assert kwargs["log_level"] == "warning"
    settings = Settings.from_env()
    assert settings.database_url == sqlite_url
    assert settings.frozen_time is not None
    assert settings.frozen_time.isoformat() == "2024-01-15T12:00:00+00:00"
    assert settings.public_url == "http://127.0.0.1:3999"
    assert ok("db", "current", "--database-url", sqlite_url).stdout.endswith("(head)\n")


def test_quickstart_creates_the_demo_organization_once(
    sqlite_url: str, uvicorn_run: Recorder
) -> None:
    first = ok("quickstart", "--database-url", sqlite_url, "--port", "3999")
    key = fields(first)["key"]
    curl = f'curl -H "Authorization: Bearer {key}" http://127.0.0.1:3999/api/v1/billable_metrics'
    assert curl in first.stdout
    listed = rows(ok("org", "list", "--database-url", sqlite_url))
    assert [row["name"] for row in listed] == [quickstart_module.DEMO_NAME]

    again = ok("quickstart", "--database-url", sqlite_url, "--port", "3999")
    assert "already has 1 organization" in again.stdout
    assert f"api-key create --org {listed[0]['id']}" in again.stdout
    assert "key: " not in again.stdout
    assert len(rows(ok("org", "list", "--database-url", sqlite_url))) == 1
    assert len(uvicorn_run.calls) == 2


def test_help_lists_every_command() -> None:
    result = ok("--help")
    for command in ("serve", "quickstart", "db", "org", "api-key"):
        assert command in result.stdout
