"""Payments tests: a real `localstripe` server (a stateful fake Stripe) on a free port.

The server is started once per session as a subprocess; the `stripe` library reaches it
through each connection's `api_base`. Without localstripe installed the tests fail (as
the PostgreSQL tests do without a server): it is a declared test dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

WEBHOOK_SECRET = "whsec_meterly_test"
SECRET_KEY = "sk_test_meterly"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/v1/balance", auth=(SECRET_KEY, ""), timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail("localstripe did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def stripe_client(localstripe: str) -> stripe.StripeClient:
    """The test's own view of the fake Stripe account (to arrange cards, read intents)."""
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe})


def provider_customer(client: stripe.StripeClient, card_number: str | None) -> str:
    """A Stripe customer, with `card_number` saved as its default payment method."""
    customer = client.v1.customers.create(params={"name": "Test customer"})
    if card_number is not None:
        method = client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {"number": card_number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
            }
        )
        client.v1.payment_methods.attach(method["id"], params={"customer": customer["id"]})
        client.v1.customers.update(
            customer["id"],
            params={"invoice_settings": {"default_payment_method": method["id"]}},
        )
    return str(customer["id"])


def signed_event(
    event_id: str, event_type: str, obj: dict[str, Any], secret: str = WEBHOOK_SECRET
) -> tuple[bytes, str]:
    """A provider event body and its `Stripe-Signature` header (Stripe's scheme)."""
    body = json.dumps(
        {"id": event_id, "object": "event", "type": event_type, "data": {"object": obj}}
    ).encode()
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={stamp},v1={mac}"


class LiveServer:
    """Meterly (API and web pages) served over real HTTP on a free port."""

    def __init__(self, base: str, key: str, org_id: str, database: Any) -> None:
        self.base = base
        self.org_id = org_id
        self.database = database
        # The installation secrets the app decrypts provider keys with (the worker's too).
        self.keys: tuple[str, ...] = ()
        self.http = httpx.Client(
            base_url=f"{base}/api/v1/", headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(self, path: str, json: object = None) -> httpx.Response:
        return self.http.post(path, json=json)

    def put(self, path: str, json: object = None) -> httpx.Response:
        return self.http.put(path, json=json)


@pytest.fixture
def live_server(migrated_db_url: str, clock: Any) -> Iterator[LiveServer]:
    """The whole application on a migrated database of each backend, one organization."""
    import threading

    import uvicorn

    from meterly.config import Settings
    from meterly.services.accounts import create_organization
    from meterly.store.engine import create_engine
    from meterly.store.uow import Database
    from meterly.web.app import create_app

    port = _free_port()
    database = Database(create_engine(migrated_db_url))
    settings = Settings(database_url=migrated_db_url, public_url=f"http://127.0.0.1:{port}")
    app = create_app(settings, database=database, clock=clock)
    with database.unit_of_work() as session:
        org, key = create_organization(session, name="Acme Billing", clock=clock)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the server did not start"
    live = LiveServer(f"http://127.0.0.1:{port}", key.secret, org.id, database)
    live.keys = app.state.settings.verification_keys
    try:
        yield live
    finally:
        live.http.close()
        server.should_exit = True
        thread.join(timeout=10)
        database.engine.dispose()
