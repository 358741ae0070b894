"""Headless Chromium (Debian's `chromium`) driven by Playwright, against a live server.

Skipped with the reason when Playwright or the browser is missing, except under CI=true,
where a missing browser fails. Screenshots go to var/screenshots/ (test artefacts).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from meterly.config import Settings
from meterly.services import runs
from meterly.services.accounts import create_organization
from meterly.services.common import FrozenClock
from meterly.store.engine import create_engine
from meterly.store.schema import upgrade
from meterly.store.uow import Database
from tests.e2e.test_portal import seed_usage, ts

CHROMIUM = os.environ.get("METERLY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
FEB_1 = datetime(2024, 2, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 2, 10, 12, tzinfo=UTC)

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    # Other test packages import this fixture, which makes it a second session fixture of
    # its own; Playwright's sync API runs once per process, so every copy shares one browser.
    if _SHARED:
        yield _SHARED[0]
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        _SHARED.append(chromium)
        try:
            yield chromium
        finally:
            _SHARED.clear()
            chromium.close()


_SHARED: list[Any] = []


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class LiveApi:
    """The same helpers as the `api` fixture, over real HTTP."""

    def __init__(self, base: str, key: str, org_id: str) -> None:
        self.base = base
        self.key = key
        self.org_id = org_id
        self.http = httpx.Client(
            base_url=f"{base}/api/v1/", headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(self, path: str, json: object = None) -> httpx.Response:
        return self.http.post(path, json=json)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveApi]:
    """A server on a free port: one organization, a plan, a customer billed for January.

    The clock stands at 2024-02-10 12:00 UTC; February has a few events already.
    """
    import uvicorn

    from meterly.web.app import create_app

    port = _free_port()
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    database = Database(create_engine(url))
    upgrade(database.engine)
    clock = FrozenClock(datetime(2024, 1, 15, 12, tzinfo=UTC))
    settings = Settings(database_url=url, public_url=f"http://127.0.0.1:{port}")
    app = create_app(settings, database=database, clock=clock)
    with database.unit_of_work() as session:
        org, key = create_organization(session, name="Acme Billing", clock=clock)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    api = LiveApi(f"http://127.0.0.1:{port}", key.secret, org.id)
    try:
        seed_usage(api)
        runs.run(database, as_of=FEB_1, clock=FrozenClock(FEB_1))
        clock.set(NOW)
        february = [
            {
                "transaction_id": f"feb-call-{i}",
                "external_subscription_id": "sub_cust_acme",
                "code": "api_calls",
                "timestamp": ts(1 + i % 9, month=2),
            }
            for i in range(18)
        ] + [
            {
                "transaction_id": "feb-gb-eu",
                "external_subscription_id": "sub_cust_acme",
                "code": "storage_gb",
                "timestamp": ts(3, month=2),
                "properties": {"gb": 250, "region": "eu"},
            }
        ]
        assert api.post("events/batch", {"events": february}).status_code == 200
        yield api
    finally:
        api.http.close()
        server.should_exit = True
        thread.join(timeout=10)
        database.engine.dispose()
