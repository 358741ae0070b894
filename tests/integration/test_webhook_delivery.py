"""Outbox delivery against a real local HTTP receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from meterly.jobs import webhooks as delivery
from meterly.services.common import FrozenClock
from meterly.services.notifications import webhooks
from meterly.store.tables import Webhook
from meterly.store.uow import Database

# --- a receiver that records every request ------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers in turn; then 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def answer(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200

    def keys(self) -> list[str]:
        return [r.headers["x-lago-unique-key"] for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = state["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with rec.lock:
                rec.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            status = rec.answer()
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()


# --- a database with one organization ---------------------------------------------


@dataclass
class World:
    database: Database
    clock: FrozenClock
    org_id: str
    hmac_key: str
    api_key: str

    def endpoint(
        self, url: str, event_types: list[str] | None = None, signature_algo: str | None = None
    ) -> str:
        with self.database.unit_of_work() as session:
            row = webhooks.create(
                session,
                organization_id=self.org_id,
                data=webhooks.EndpointInput(
                    webhook_url=url, event_types=event_types, signature_algo=signature_algo
                ),
                clock=self.clock,
            )
            return row.id

    def enqueue(
        self,
        webhook_type: str = "invoice.created",
        payload: dict[str, Any] | None = None,
        object_type: str | None = None,
    ) -> list[str]:
        object_type = object_type or webhook_type.split(".")[0]
        with self.database.unit_of_work() as session:
            rows = webhooks.enqueue(
                session,
                organization_id=self.org_id,
                webhook_type=webhook_type,
                object_type=object_type,
                object_id=None,
                clock=self.clock,
                payload=payload if payload is not None else {"lago_id": "inv-1", "total": 10},
            )
            return [r.id for r in rows]

    def webhook(self, webhook_id: str) -> Webhook:
        with self.database.sessions() as session:
            row = session.get(Webhook, webhook_id)
            assert row is not None
            return row

    def deliver(self, **kw: Any) -> delivery.DeliveryReport:
        kw.setdefault("rng", NoJitter())
        return delivery.deliver_due(self.database, clock=self.clock, **kw)


class NoJitter(random.Random):
    def random(self) -> float:
        return 0.0


def make_world(url: str, clock: FrozenClock) -> World:
    from meterly.services.accounts import create_organization
    from meterly.store.engine import create_engine
    from meterly.store.schema import upgrade

    database = Database(create_engine(url))
    upgrade(database.engine)
    with database.unit_of_work() as session:
        org, key = create_organization(session, name="Acme", clock=clock)
        # The receivers listen on loopback: allowed explicitly (url_guard refuses it).
        org.allow_private_webhook_urls = True
        return World(database, clock, org.id, org.hmac_key, key.secret)


@pytest.fixture
def world(db_url: str, clock: FrozenClock) -> Iterator[World]:
    w = make_world(db_url, clock)
    yield w
    w.database.engine.dispose()


# --- tests -----------------------------------------------------------------------------


def test_delivered_webhook_is_signed_over_the_exact_body(world: World, receiver: Receiver) -> None:
    world.endpoint(receiver.url())
    [webhook_id] = world.enqueue(payload={"lago_id": "inv-1", "total_amount_cents": 1200})

    report = world.deliver()

    assert (report.claimed, report.succeeded) == (1, 1)
    [request] = receiver.requests
    expected = base64.b64encode(
        hmac.new(world.hmac_key.encode(), request.body, hashlib.sha256).digest()
    ).decode()
    assert request.headers["x-lago-signature"] == expected
    assert request.headers["x-lago-signature-algorithm"] == "hmac"
    assert request.headers["x-lago-unique-key"] == webhook_id
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {
        "webhook_type": "invoice.created",
        "object_type": "invoice",
        "organization_id": world.org_id,
        "invoice": {"lago_id": "inv-1", "total_amount_cents": 1200},
    }
    row = world.webhook(webhook_id)
    assert (row.status, row.http_status, row.next_attempt_at) == ("succeeded", 200, None)
    assert len(row.attempts) == 1
    assert row.attempts[0]["http_status"] == 200
    assert row.attempts[0]["error"] is None


def test_jwt_endpoint_gets_an_rs256_token_over_the_body(world: World, receiver: Receiver) -> None:
    import jwt

    from meterly.services.accounts import signing_keys

    world.endpoint(receiver.url(), signature_algo="jwt")
    world.enqueue(payload={"lago_id": "inv-1"})
    assert world.deliver().succeeded == 1
    [request] = receiver.requests
    assert request.headers["x-lago-signature-algorithm"] == "jwt"
    with world.database.unit_of_work() as session:
        public = base64.b64decode(signing_keys.webhook_public_key_b64(session, clock=world.clock))
    claims = jwt.decode(request.headers["x-lago-signature"], public, algorithms=["RS256"])
    assert claims["data"] == request.body.decode()
    assert claims["iss"]


def test_succeeded_webhook_is_not_sent_again(world: World, receiver: Receiver) -> None:
    world.endpoint(receiver.url())
    world.enqueue()
    world.deliver()
    world.clock.advance(timedelta(days=1))
    assert world.deliver().claimed == 0
    assert len(receiver.requests) == 1


def test_failing_receiver_is_retried_with_backoff_then_failed(
    world: World, receiver: Receiver
) -> None:
    world.endpoint(receiver.url())
    [webhook_id] = world.enqueue()
    receiver.statuses = [500, 500, 500]
    start = world.clock.now()

    assert world.deliver().retrying == 1
    row = world.webhook(webhook_id)
    assert (row.status, row.retries) == ("retrying", 1)
    assert row.next_attempt_at == start + timedelta(seconds=1**4 + 2)

    world.clock.advance(timedelta(seconds=2))
    assert world.deliver().claimed == 0  # not due yet
    world.clock.advance(timedelta(seconds=1))
    assert world.deliver().retrying == 1
    row = world.webhook(webhook_id)
    assert row.retries == 2
    assert row.next_attempt_at == world.clock.now() + timedelta(seconds=2**4 + 2)

    world.clock.advance(timedelta(seconds=18))
    assert world.deliver().failed == 1
    row = world.webhook(webhook_id)
    assert (row.status, row.retries, row.next_attempt_at) == ("failed", 3, None)
    assert [a["http_status"] for a in row.attempts] == [500, 500, 500]
    assert all(a["error"] == "HTTP 500" for a in row.attempts)

    world.clock.advance(timedelta(days=1))
    assert world.deliver().claimed == 0
    assert receiver.keys() == [webhook_id] * 3


def test_jitter_adds_at_most_fifteen_percent() -> None:
    class MaxJitter(random.Random):
        def random(self) -> float:
            return 1.0

    assert delivery.backoff(2, rng=MaxJitter()) == timedelta(seconds=18 * 1.15)
    assert delivery.backoff(2, rng=NoJitter()) == timedelta(seconds=18)


def test_max_attempts_is_configurable(world: World, receiver: Receiver) -> None:
    world.endpoint(receiver.url())
    [webhook_id] = world.enqueue()
    receiver.statuses = [503]
    assert world.deliver(max_attempts=1).failed == 1
    assert world.webhook(webhook_id).status == "failed"


def test_failed_webhook_can_be_retried_manually(world: World, receiver: Receiver) -> None:
    world.endpoint(receiver.url())
    [webhook_id] = world.enqueue()
    receiver.statuses = [500]
    world.deliver(max_attempts=1)

    with world.database.unit_of_work() as session:
        webhooks.retry(
            session, organization_id=world.org_id, webhook_id=webhook_id, clock=world.clock
        )
    assert world.deliver().succeeded == 1
    row = world.webhook(webhook_id)
    assert row.status == "succeeded"
    assert [a["http_status"] for a in row.attempts] == [500, 200]


def test_only_failed_webhooks_can_be_retried(world: World, receiver: Receiver) -> None:
    from meterly.domain.errors import NotAllowed

    world.endpoint(receiver.url())
    [webhook_id] = world.enqueue()
    with pytest.raises(NotAllowed), world.database.unit_of_work() as session:
        webhooks.retry(
            session, organization_id=world.org_id, webhook_id=webhook_id, clock=world.clock
        )


def test_network_error_is_recorded_and_retried(world: World) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    world.endpoint(f"http://127.0.0.1:{port}/hook")
    [webhook_id] = world.enqueue()

    assert world.deliver(timeout=2).retrying == 1
    row = world.webhook(webhook_id)
    assert row.http_status is None
    assert row.attempts[0]["error"].startswith("ConnectError")


def test_crashed_claim_is_delivered_once_after_the_lease(world: World, receiver: Receiver) -> None:
    world.endpoint(receiver.url())
    [webhook_id] = world.enqueue()

    claims = delivery.claim_due(world.database, clock=world.clock, lease=timedelta(seconds=60))
    assert [c.webhook_id for c in claims] == [webhook_id]
    # ... and the worker dies before sending: the lease keeps others off for a while,
    assert world.deliver().claimed == 0
    world.clock.advance(timedelta(seconds=59))
    assert world.deliver().claimed == 0
    assert receiver.requests == []
    # then the row is due again and goes out exactly once.
    world.clock.advance(timedelta(seconds=1))
    assert world.deliver().succeeded == 1
    world.clock.advance(timedelta(hours=1))
    assert world.deliver().claimed == 0
    assert receiver.keys() == [webhook_id]
    assert world.webhook(webhook_id).status == "succeeded"


def test_event_type_filters_pick_the_endpoints(world: World, receiver: Receiver) -> None:
    world.endpoint(receiver.url("/all"))
    world.endpoint(receiver.url("/invoices"), ["invoice.created", "invoice.voided"])
    world.endpoint(receiver.url("/subscriptions"), ["subscription.started"])

    assert len(world.enqueue("invoice.created")) == 2
    assert len(world.enqueue("subscription.started")) == 2
    assert world.enqueue("customer.created") != []
    world.deliver()

    by_path: dict[str, list[str]] = {}
    for r in receiver.requests:
        by_path.setdefault(r.path, []).append(json.loads(r.body)["webhook_type"])
    assert sorted(by_path["/all"]) == [
        "customer.created",
        "invoice.created",
        "subscription.started",
    ]
    assert by_path["/invoices"] == ["invoice.created"]
    assert by_path["/subscriptions"] == ["subscription.started"]


def test_nothing_is_enqueued_without_a_matching_endpoint(world: World) -> None:
    assert world.enqueue("invoice.created") == []
    world.endpoint("https://hooks.example.com/x", ["plan.created"])
    assert world.enqueue("invoice.created") == []


def test_rolled_back_transaction_takes_its_webhooks_along(world: World) -> None:
    world.endpoint("https://hooks.example.com/x")
    with pytest.raises(RuntimeError), world.database.unit_of_work() as session:
        webhooks.enqueue(
            session,
            organization_id=world.org_id,
            webhook_type="invoice.created",
            object_type="invoice",
            object_id=None,
            clock=world.clock,
            payload={"lago_id": "x"},
        )
        raise RuntimeError("billing failed")
    with world.database.sessions() as session:
        _rows, total = webhooks.list_deliveries(session, organization_id=world.org_id)
    assert total == 0


def test_body_is_rendered_at_delivery_from_a_registered_renderer(
    world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = {"name": "before"}
    monkeypatch.setitem(
        delivery.RENDERERS, "gizmo", lambda session, object_id: {"lago_id": object_id, **state}
    )
    world.endpoint(receiver.url())
    with world.database.unit_of_work() as session:
        webhooks.enqueue(
            session,
            organization_id=world.org_id,
            webhook_type="plan.updated",
            object_type="gizmo",
            object_id="11111111-1111-1111-1111-111111111111",
            clock=world.clock,
        )
    state["name"] = "after"
    world.deliver()
    [request] = receiver.requests
    assert json.loads(request.body)["gizmo"] == {
        "lago_id": "11111111-1111-1111-1111-111111111111",
        "name": "after",
    }


def test_built_in_renderer_uses_the_api_serializer(world: World, receiver: Receiver) -> None:
    from meterly.services.catalog import billable_metrics

    world.endpoint(receiver.url())
    with world.database.unit_of_work() as session:
        metric = billable_metrics.create(
            session,
            organization_id=world.org_id,
            data=billable_metrics.MetricInput(
                name="Calls", code="calls", aggregation_type="count_agg"
            ),
            clock=world.clock,
        )
        webhooks.enqueue(
            session,
            organization_id=world.org_id,
            webhook_type="billable_metric.created",
            object_type="billable_metric",
            object_id=metric.id,
            clock=world.clock,
        )
    world.deliver()
    [request] = receiver.requests
    body = json.loads(request.body)["billable_metric"]
    assert (body["lago_id"], body["code"], body["aggregation_type"]) == (
        metric.id,
        "calls",
        "count_agg",
    )


def test_subscription_is_rendered_with_the_api_serializer(world: World, receiver: Receiver) -> None:
    from fastapi.testclient import TestClient

    from meterly.api.app import create_app
    from meterly.config import Settings

    app = create_app(Settings(), database=world.database, clock=world.clock)
    auth = {"Authorization": f"Bearer {world.api_key}"}
    with TestClient(app, base_url="http://test/api/v1/", headers=auth) as api:
        plan = {
            "name": "Startup",
            "code": "startup",
            "interval": "monthly",
            "amount_cents": 1000,
            "amount_currency": "USD",
            "pay_in_advance": False,
        }
        assert api.post("plans", json={"plan": plan}).status_code == 200
        customer = {"external_id": "cust_1", "name": "Acme", "currency": "USD"}
        assert api.post("customers", json={"customer": customer}).status_code == 200
        created = api.post(
            "subscriptions",
            json={
                "subscription": {
                    "external_customer_id": "cust_1",
                    "plan_code": "startup",
                    "external_id": "sub_1",
                }
            },
        )
        assert created.status_code == 200, created.text
        expected = created.json()["subscription"]
    with world.database.unit_of_work() as session:
        webhooks.enqueue(
            session,
            organization_id=world.org_id,
            webhook_type="subscription.started",
            object_type="subscription",
            object_id=expected["lago_id"],
            clock=world.clock,
        )
    world.endpoint(receiver.url())  # endpoints added later hear nothing already queued
    assert world.deliver().claimed == 0
    with world.database.unit_of_work() as session:
        webhooks.enqueue(
            session,
            organization_id=world.org_id,
            webhook_type="subscription.started",
            object_type="subscription",
            object_id=expected["lago_id"],
            clock=world.clock,
        )
    world.deliver()
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["object_type"] == "subscription"
    assert body["subscription"] == expected


def test_rendering_failure_counts_as_a_failed_attempt(
    world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(session: Any, object_id: str) -> dict[str, Any]:
        raise ValueError("serializer bug")

    monkeypatch.setitem(delivery.RENDERERS, "gizmo", broken)
    world.endpoint(receiver.url())
    with world.database.unit_of_work() as session:
        [row] = webhooks.enqueue(
            session,
            organization_id=world.org_id,
            webhook_type="plan.updated",
            object_type="gizmo",
            object_id="11111111-1111-1111-1111-111111111111",
            clock=world.clock,
        )
        webhook_id = row.id
    world.deliver()
    assert receiver.requests == []
    row = world.webhook(webhook_id)
    assert (row.status, row.retries) == ("retrying", 1)
    assert "serializer bug" in row.attempts[0]["error"]


def test_deleting_an_endpoint_removes_its_deliveries(world: World) -> None:
    endpoint_id = world.endpoint("https://hooks.example.com/x")
    world.enqueue()
    with world.database.unit_of_work() as session:
        row = webhooks.find(session, organization_id=world.org_id, endpoint_id=endpoint_id)
        webhooks.delete(session, row=row)
    with world.database.sessions() as session:
        assert webhooks.list_deliveries(session, organization_id=world.org_id)[1] == 0


def test_run_forever_delivers_until_stopped(world: World, receiver: Receiver) -> None:
    world.endpoint(receiver.url())
    world.enqueue()
    stop = threading.Event()
    worker = threading.Thread(
        target=delivery.run_forever,
        kwargs={"database": world.database, "clock": world.clock, "stop": stop, "interval": 0.01},
    )
    worker.start()
    try:
        for _ in range(500):
            if receiver.requests:
                break
            threading.Event().wait(0.01)
    finally:
        stop.set()
        worker.join(timeout=5)
    assert not worker.is_alive()
    assert len(receiver.requests) == 1


def test_delivery_history_via_api_lists_attempts(world: World, receiver: Receiver) -> None:
    from fastapi.testclient import TestClient

    from meterly.api.app import create_app
    from meterly.config import Settings

    app = create_app(Settings(), database=world.database, clock=world.clock)
    auth = {"Authorization": f"Bearer {world.api_key}"}
    with TestClient(app, base_url="http://test/api/v1/", headers=auth) as api:
        created = api.post(
            "webhook_endpoints", json={"webhook_endpoint": {"webhook_url": receiver.url()}}
        )
        assert created.status_code == 200, created.text
        [webhook_id] = world.enqueue(
            "event.error",
            payload={"status": 422, "error": "Unprocessable entity"},
            object_type="event_error",
        )
        receiver.statuses = [500]
        world.deliver(max_attempts=1)

        failed = api.get("webhooks", params={"status": "failed"}).json()
        [item] = failed["webhooks"]
        assert item["lago_id"] == webhook_id
        assert item["webhook_url"] == receiver.url()
        assert (item["status"], item["webhook_type"]) == ("failed", "event.error")
        assert [a["http_status"] for a in item["attempts"]] == [500]
        assert api.get("webhooks", params={"status": "pending"}).json()["webhooks"] == []

        retried = api.post(f"webhooks/{webhook_id}/retry")
        assert retried.status_code == 200
        assert retried.json()["webhook"]["status"] == "pending"
        again = api.post(f"webhooks/{webhook_id}/retry")
        assert again.status_code == 405
        assert again.json()["code"] == "webhook_not_failed"

        world.deliver()
        shown = api.get(f"webhooks/{webhook_id}").json()["webhook"]
        assert shown["status"] == "succeeded"
        assert len(shown["attempts"]) == 2
        body = json.loads(receiver.requests[-1].body)
        assert body["object_type"] == "event_error"
        assert body["event_error"] == {"status": 422, "error": "Unprocessable entity"}


@pytest.mark.postgres
def test_concurrent_workers_never_send_the_same_webhook_twice(
    postgres_url: str, clock: FrozenClock, receiver: Receiver
) -> None:
    world = make_world(postgres_url, clock)
    try:
        world.endpoint(receiver.url())
        ids = [i for _ in range(30) for i in world.enqueue()]
        barrier = threading.Barrier(2)
        reports: list[delivery.DeliveryReport] = []

        def work() -> None:
            barrier.wait()
            while True:
                report = delivery.deliver_due(world.database, clock=clock, limit=3)
                reports.append(report)
                if report.claimed == 0:
                    return

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(receiver.keys()) == sorted(ids)
        assert sum(r.claimed for r in reports) == 30
    finally:
        world.database.engine.dispose()
