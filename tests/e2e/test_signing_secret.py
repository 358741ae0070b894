"""Secret rotation over HTTP, on both backends: portal links, dashboard sessions, documents.

Three applications serve one database: `old` signs with the secret in use before the
rotation, `rotated` signs with the new one and still lists the old one for verification,
`forgetful` knows only the new one (as after the old one was retired).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from meterly.api.routes.credit_notes import sign as sign_credit_note
from meterly.api.schemas.invoices import sign as sign_invoice
from meterly.api.schemas.invoices import verify_token
from meterly.cli.main import app as cli_app
from meterly.config import MissingSecretKey, Settings
from meterly.web.app import create_app

OLD, NEW = "secret-before-rotation", "secret-after-rotation"


@pytest.fixture
def apps(api: Any) -> Iterator[dict[str, TestClient]]:
    api.post("customers", {"customer": {"external_id": "cust_acme", "name": "Acme Corp"}})
    clock = api.client.app.state.clock
    settings = {
        "old": Settings(secret_key=OLD),
        "rotated": Settings(secret_key=NEW, previous_secret_keys=(OLD,)),
        "forgetful": Settings(secret_key=NEW),
    }
    clients = {
        name: TestClient(create_app(s, database=api.database, clock=clock))
        for name, s in settings.items()
    }
    for client in clients.values():
        client.__enter__()
    try:
        yield clients
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)


def portal_path(client: TestClient, key: str) -> str:
    response = client.get(
        "/api/v1/customers/cust_acme/portal_url", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["customer"]["portal_url"]
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_a_portal_link_signed_with_the_previous_secret_still_opens(
    api: Any, apps: dict[str, TestClient]
) -> None:
    link = portal_path(apps["old"], api.key)
    assert apps["old"].get(link).status_code == 200
    assert apps["rotated"].get(link).status_code == 200
    # Once the old secret is no longer listed, the link is an unknown one.
    assert apps["forgetful"].get(link).status_code == 404
    # New links are signed with the new secret: the old application does not know them.
    fresh = portal_path(apps["rotated"], api.key)
    assert apps["forgetful"].get(fresh).status_code == 200
    assert apps["old"].get(fresh).status_code == 404


def test_a_dashboard_session_survives_the_rotation_while_the_old_secret_is_listed(
    api: Any, apps: dict[str, TestClient]
) -> None:
    signed_in = apps["old"].post(
        "/dashboard/login", data={"api_key": api.key}, follow_redirects=False
    )
    assert signed_in.status_code == 303
    cookie = apps["old"].cookies.get("meterly_session")
    assert cookie
    for name, expected in (("rotated", 200), ("forgetful", 303)):
        apps[name].cookies.set("meterly_session", cookie, path="/dashboard")
        answer = apps[name].get("/dashboard", follow_redirects=False)
        assert answer.status_code == expected, name


def test_document_links_verify_with_a_listed_previous_secret_only() -> None:
    before = Settings(secret_key=OLD)
    rotated = Settings(secret_key=NEW, previous_secret_keys=(OLD,))
    forgetful = Settings(secret_key=NEW)
    token = sign_invoice(before, "inv-1")
    assert verify_token(rotated, "inv-1", token)
    assert not verify_token(forgetful, "inv-1", token)
    assert not verify_token(rotated, "inv-2", token)
    assert not verify_token(rotated, "inv-1", sign_invoice(Settings(secret_key="unknown"), "inv-1"))
    # Non-ASCII junk in the token is a bad token, not an error.
    assert not verify_token(rotated, "inv-1", "é" * 64)
    # Credit notes sign with the current secret too.
    assert sign_credit_note(rotated, "cn-1") == sign_credit_note(forgetful, "cn-1")


def test_an_unknown_credit_note_signature_is_404_even_with_odd_characters(
    api: Any, apps: dict[str, TestClient]
) -> None:
    for token in ("abc", "é" * 64):
        answer = apps["rotated"].get("/api/v1/files/credit_notes/cn-1.pdf", params={"token": token})
        assert answer.status_code == 404


def test_a_server_on_postgresql_without_a_secret_refuses_to_start(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(a))
    for name in ("METERLY_SECRET_KEY", "METERLY_SECRET_KEY_PREVIOUS", "METERLY_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("METERLY_DATABASE_URL", postgres_url)
    result = CliRunner().invoke(cli_app, ["serve", "--port", "3998"])
    assert result.exit_code != 0
    assert "METERLY_SECRET_KEY is not set" in str(result.exception)
    assert started == []
    # The application factory uvicorn's workers call refuses the same way.
    with pytest.raises(MissingSecretKey):
        create_app()
    # With the secret configured, it starts.
    monkeypatch.setenv("METERLY_SECRET_KEY", NEW)
    assert create_app().state.settings.signing_key == NEW


def test_a_server_on_sqlite_starts_without_configuration_and_keeps_its_secret(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("METERLY_SECRET_KEY", "METERLY_SECRET_KEY_PREVIOUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("METERLY_DATABASE_URL", sqlite_url)
    first = create_app().state.settings.signing_key
    again = create_app().state.settings.signing_key
    assert first == again
    assert (tmp_path / "meterly.db.secret-key").read_text().strip() == first


def test_the_worker_signs_document_links_with_the_secret_of_the_database_it_reads(
    migrated_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meterly.api.schemas.invoices import _worker_document_url
    from meterly.store.engine import create_engine
    from meterly.store.uow import Database

    for name in ("METERLY_SECRET_KEY", "METERLY_SECRET_KEY_PREVIOUS", "METERLY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)  # the worker was given --database-url only
    database = Database(create_engine(migrated_db_url))
    server = create_app(Settings(database_url=migrated_db_url), database=database)
    with database.sessions() as session:
        url = _worker_document_url(session, None, "inv-1")
    if migrated_db_url.startswith("sqlite"):
        # Server and worker read the same secret file next to the database.
        assert url is not None
        token = url.rsplit("token=", 1)[1]
        assert verify_token(server.state.settings, "inv-1", token)
    else:
        # No shared secret configured: no link rather than one the server would refuse.
        assert url is None
    database.engine.dispose()
