"""Rate limits (api/throttle.py) and the `Bearer` scheme word, through the real app.

The buckets' clock is a number the test moves by hand: no test waits for time to pass.
The TestClient's requests all come from the address "testclient".
"""

from __future__ import annotations

from typing import Any

import pytest

from meterly.api.throttle import Throttle
from meterly.services.accounts import create_api_key
from meterly.services.common import FrozenClock
from meterly.web import install_web


class ManualTime:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def limit(api: Any, **limits: int) -> ManualTime:
    moment = ManualTime()
    defaults = {"per_key": 0, "per_address": 0, "auth_failures": 0}
    api.client.app.state.throttle = Throttle(**(defaults | limits), now=moment)
    return moment


def get(api: Any, key: str) -> Any:
    return api.client.get("/api/v1/customers", headers={"Authorization": f"Bearer {key}"})


def post_event(api: Any, key: str, transaction_id: str) -> Any:
    event = {"transaction_id": transaction_id, "external_subscription_id": "s", "code": "calls"}
    return api.client.post(
        "/api/v1/events", json={"event": event}, headers={"Authorization": f"Bearer {key}"}
    )


def assert_too_many(answer: Any, retry_after: str) -> None:
    assert answer.status_code == 429
    assert answer.json() == {
        "status": 429,
        "error": "Too Many Requests",
        "code": "too_many_requests",
    }
    assert answer.headers["retry-after"] == retry_after


def test_failed_authentication_blocks_the_address(api: Any) -> None:
    moment = limit(api, auth_failures=2)
    assert get(api, "wrong-1").status_code == 401
    assert post_event(api, "wrong-2", "t0").status_code == 401  # the ingestion lane counts too
    # Two failures a minute: the bucket is empty, and one token comes back every
    # 60 / 2 = 30 seconds. Every request from the address waits, a good key too.
    assert_too_many(get(api, "wrong-3"), "30")
    assert_too_many(get(api, api.key), "30")
    assert_too_many(post_event(api, api.key, "t1"), "30")
    moment.value += 29
    assert_too_many(get(api, api.key), "1")  # 1 second left: 30 - 29
    moment.value += 1
    assert get(api, api.key).status_code == 200
    # Successes cost no failure token: the address is not blocked again.
    assert get(api, api.key).status_code == 200


def test_each_key_has_its_own_allowance(api: Any, clock: FrozenClock) -> None:
    moment = limit(api, per_key=3)
    with api.database.unit_of_work() as session:
        other = create_api_key(session, organization_id=api.org_id, clock=clock).secret
    assert get(api, api.key).status_code == 200
    assert get(api, api.key).status_code == 200
    assert post_event(api, api.key, "t1").status_code == 200
    # Three requests a minute per key: the fourth waits 60 / 3 = 20 seconds.
    assert_too_many(post_event(api, api.key, "t2"), "20")
    assert_too_many(get(api, api.key), "20")
    # Another key of the same organization is counted apart.
    assert get(api, other).status_code == 200
    moment.value += 20
    assert get(api, api.key).status_code == 200
    # The refused event was never stored: only t1 is there (read with the other key).
    answer = api.client.get("/api/v1/events", headers={"Authorization": f"Bearer {other}"})
    assert [e["transaction_id"] for e in answer.json()["events"]] == ["t1"]


def test_each_address_has_its_own_allowance(api: Any) -> None:
    limit(api, per_address=2)
    assert get(api, api.key).status_code == 200
    assert get(api, "unknown").status_code == 401
    # Two requests a minute from one address: the third waits 60 / 2 = 30 seconds.
    assert_too_many(get(api, api.key), "30")


def test_the_dashboard_is_not_limited_here(api: Any) -> None:
    install_web(api.client.app)
    limit(api, per_address=1)
    assert get(api, api.key).status_code == 200
    # Only /api is limited by this module; the dashboard's sign-in has its own guard.
    assert api.client.get("/dashboard/login").status_code == 200
    assert api.client.get("/dashboard/login").status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Token {key}", "Basic {key}", "{key}", "Bearer {key} extra", "Bearer"],
)
def test_the_scheme_word_must_be_bearer(api: Any, header: str) -> None:
    headers = {"Authorization": header.format(key=api.key)}
    assert api.client.get("/api/v1/customers", headers=headers).status_code == 401
    event = {"transaction_id": "t", "external_subscription_id": "s", "code": "c"}
    answer = api.client.post("/api/v1/events", json={"event": event}, headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"status": 401, "error": "Unauthorized"}


def test_the_scheme_word_is_case_insensitive(api: Any) -> None:
    headers = {"Authorization": f"bearer {api.key}"}
    assert api.client.get("/api/v1/customers", headers=headers).status_code == 200


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERLY_RATE_LIMIT_PER_KEY", "600")
    monkeypatch.setenv("METERLY_RATE_LIMIT_PER_ADDRESS", "0")
    monkeypatch.setenv("METERLY_AUTH_FAILURES_PER_MINUTE", "10")
    throttle = Throttle.from_env()
    assert (throttle.keys.per_minute, throttle.addresses.enabled) == (600, False)
    assert throttle.failures.per_minute == 10
    monkeypatch.setenv("METERLY_AUTH_FAILURES_PER_MINUTE", "-1")
    with pytest.raises(ValueError, match="0 \\(off\\) or more"):
        Throttle.from_env()
    monkeypatch.delenv("METERLY_RATE_LIMIT_PER_KEY")
    monkeypatch.delenv("METERLY_AUTH_FAILURES_PER_MINUTE")
    assert Throttle.from_env().keys.per_minute == 1_200_000
