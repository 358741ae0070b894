"""The current usage cache: a hit equals a fresh computation, and nothing stale is served.

Every answer through the API (cached) is compared with the same usage computed straight
from the events (`use_cache=False`), on SQLite and PostgreSQL: after each way of adding
events, across two application instances sharing one database, across a race between the
count and the aggregation, and while the clock moves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from meterly.api.app import create_app
from meterly.api.http import envelope
from meterly.api.schemas.usage import customer_usage
from meterly.config import Settings
from meterly.domain.periods import BillingPeriod
from meterly.services.accounts import active
from meterly.services.common import FrozenClock
from meterly.services.metering import SubscriptionUsage, compute_usage, ingest, usage_cache
from meterly.services.metering import usage as usage_service
from meterly.store import bulk_events
from meterly.store.engine import create_engine
from meterly.store.uow import Database
from tests.conftest import ApiClient

CUSTOMER = "cust_cache"
SUB = "sub_cache"
USAGE_PATH = f"customers/{CUSTOMER}/current_usage"

# (code, aggregation, field, extra): every aggregation, recurring ones included.
METRICS: tuple[tuple[str, str, str | None, dict[str, Any]], ...] = (
    ("calls", "count_agg", None, {}),
    ("gb", "sum_agg", "gb", {"filters": [{"key": "region", "values": ["eu", "us"]}]}),
    ("gb_grouped", "sum_agg", "gb", {}),
    ("spend", "sum_agg", "amount", {}),
    ("peak", "max_agg", "gb", {}),
    ("users", "unique_count_agg", "user", {}),
    ("last", "latest_agg", "gb", {}),
    ("cpu", "weighted_sum_agg", "cpu", {"weighted_interval": "seconds"}),
    ("stored", "sum_agg", "gb", {"recurring": True}),
    ("seats", "unique_count_agg", "seat", {"recurring": True}),
)


def _charges(metric_ids: dict[str, str]) -> list[dict[str, Any]]:
    def standard(code: str, amount: str = "0.05", **extra: Any) -> dict[str, Any]:
        return {
            "billable_metric_id": metric_ids[code],
            "code": f"charge_{code}",
            "charge_model": "standard",
            "properties": {"amount": amount},
            **extra,
        }

    return [
        {
            "billable_metric_id": metric_ids["calls"],
            "code": "charge_calls",
            "charge_model": "graduated",
            "properties": {
                "graduated_ranges": [
                    {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
                    {
                        "from_value": 11,
                        "to_value": None,
                        "per_unit_amount": "0.013",
                        "flat_amount": "1",
                    },
                ]
            },
        },
        standard(
            "gb",
            filters=[
                {
                    "invoice_display_name": "EU",
                    "properties": {"amount": "0.04"},
                    "values": {"region": ["eu"]},
                }
            ],
        ),
        standard("gb_grouped", properties={"amount": "0.07", "pricing_group_keys": ["bucket"]}),
        {
            "billable_metric_id": metric_ids["spend"],
            "code": "charge_spend",
            "charge_model": "percentage",
            "properties": {"rate": "1.5", "fixed_amount": "0.25", "free_units_per_events": 2},
        },
        standard("peak", "0.3"),
        standard("users", "0.9"),
        standard("last", "0.11"),
        standard("cpu", "0.0017"),
        standard("stored", "0.021", prorated=True),
        standard("seats", "3", prorated=True),
    ]


@pytest.fixture
def subscribed(api: ApiClient) -> ApiClient:
    """Ten metrics of every aggregation, a plan charging each, one subscription."""
    ids = {}
    for code, aggregation, field_name, extra in METRICS:
        metric: dict[str, Any] = {"name": code, "code": code, "aggregation_type": aggregation}
        if field_name:
            metric["field_name"] = field_name
        metric.update(extra)
        response: Any = api.post("billable_metrics", {"billable_metric": metric})
        assert response.status_code == 200, response.text
        ids[code] = response.json()["billable_metric"]["lago_id"]
    plan = {
        "name": "Cache",
        "code": "cache",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "pay_in_advance": False,
        "charges": _charges(ids),
    }
    response = api.post("plans", {"plan": plan})
    assert response.status_code == 200, response.text
    customer = {"external_id": CUSTOMER, "name": "Cache", "currency": "EUR"}
    assert api.post("customers", {"customer": customer}).status_code == 200  # type: ignore[attr-defined]
    subscription = {
        "external_customer_id": CUSTOMER,
        "plan_code": "cache",
        "external_id": SUB,
        "billing_time": "calendar",
        "subscription_at": "2024-01-01T00:00:00Z",
    }
    response = api.post("subscriptions", {"subscription": subscription})
    assert response.status_code == 200, response.text
    return api


# --- events ---------------------------------------------------------------------------


def _event(n: int, code: str, moment: datetime) -> dict[str, Any]:
    """A deterministic event of `code`; properties vary with `n` (decimals included)."""
    properties: dict[str, Any] = {
        "gb": f"{n % 7}.{n % 10}5" if n % 3 else n % 11,
        "region": ("eu", "us", "asia")[n % 3],
        "bucket": ("a", "b")[n % 2],
        "amount": f"{n % 13}.{n % 100:02d}",
        "user": f"u{n % 5}",
        "cpu": f"{(n % 4) - 1}.5",
        "seat": f"s{n % 4}",
    }
    if code == "seats" and n % 5 == 4:
        properties["operation_type"] = "remove"
    return {
        "transaction_id": f"tx_{code}_{n}_{moment.timestamp()}",
        "external_subscription_id": SUB,
        "code": code,
        "timestamp": str(moment.timestamp()),
        "properties": properties,
    }


def _events(count: int, *, start: datetime, days: int, offset: int = 0) -> list[dict[str, Any]]:
    out = []
    for n in range(offset, offset + count):
        code = METRICS[n % len(METRICS)][0]
        moment = start + timedelta(days=n % days, hours=n % 24, minutes=n % 59, seconds=n % 7)
        out.append(_event(n, code, moment))
    return out


def _send(api: ApiClient, events: list[dict[str, Any]]) -> None:
    for first in range(0, len(events), 100):
        response: Any = api.post("events/batch", {"events": events[first : first + 100]})
        assert response.status_code == 200, response.text


# --- comparing a cached answer with a fresh one ---------------------------------------


def _get(api: ApiClient) -> dict[str, Any]:
    response: Any = api.get(USAGE_PATH, params={"external_subscription_id": SUB})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["customer_usage"]
    return body


def _service_usage(database: Any, org_id: str, at: datetime, *, cached: bool) -> SubscriptionUsage:
    with database.unit_of_work() as session:
        usage, _ = usage_service.current_usage(
            session,
            organization_id=org_id,
            external_customer_id=CUSTOMER,
            external_subscription_id=SUB,
            at=at,
            use_cache=cached,
        )
        return usage


def _fresh(api: ApiClient, clock: FrozenClock) -> dict[str, Any]:
    """The body the API would answer when computed from the events, no cache involved."""
    usage = _service_usage(api.database, api.org_id, clock.now(), cached=False)
    body: dict[str, Any] = json.loads(envelope("customer_usage", customer_usage(usage)).body)
    return body["customer_usage"]  # type: ignore[no-any-return]


def _aggregations(usage: SubscriptionUsage) -> list[str]:
    """Every bucket's aggregation as its repr: Decimal-exact (exponents included)."""
    return [
        repr((c.charge.code, b.charge_filter and b.charge_filter.id, b.grouped_by, b.aggregation))
        for c in usage.charges
        for b in c.buckets
    ]


def _stats(api: ApiClient) -> usage_cache.CacheStats:
    return usage_cache.cache_for(api.database.engine).stats()  # type: ignore[attr-defined]


def _events_count(body: dict[str, Any]) -> int:
    return sum(int(c["events_count"]) for c in body["charges_usage"])


def _assert_hit(api: ApiClient, clock: FrozenClock) -> dict[str, Any]:
    before = _stats(api)
    body = _get(api)
    after = _stats(api)
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
    assert body == _fresh(api, clock)
    return body


def _assert_miss(api: ApiClient, clock: FrozenClock) -> dict[str, Any]:
    before = _stats(api)
    body = _get(api)
    after = _stats(api)
    assert (after.hits, after.misses) == (before.hits, before.misses + 1)
    assert body == _fresh(api, clock)
    return body


JAN = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_hit_equals_a_fresh_computation_exactly(
    subscribed: ApiClient, clock: FrozenClock
) -> None:
    _send(subscribed, _events(600, start=JAN + timedelta(days=1), days=13))
    first = _assert_miss(subscribed, clock)
    assert _events_count(first) == 600
    assert _assert_hit(subscribed, clock) == first
    cached = _service_usage(subscribed.database, subscribed.org_id, clock.now(), cached=True)
    fresh = _service_usage(subscribed.database, subscribed.org_id, clock.now(), cached=False)
    assert _aggregations(cached) == _aggregations(fresh)
    assert cached.amount_cents == fresh.amount_cents > 0
    by_code = {c["charge"]["code"]: c for c in first["charges_usage"]}
    assert by_code["charge_gb_grouped"]["grouped_usage"], "the grouped charge has groups"


def test_the_count_query_reads_only_the_usage_index(subscribed: ApiClient) -> None:
    from datetime import datetime as dt

    from meterly.store.usage_counts import CountScope, count_statement

    _send(subscribed, _events(400, start=JAN + timedelta(days=1), days=13))
    engine = subscribed.database.engine  # type: ignore[attr-defined]
    if engine.dialect.name == "postgresql":  # statistics and a visibility map, as in production
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE events")
    statement = count_statement(
        organization_id=subscribed.org_id,
        external_subscription_id=SUB,
        scopes=[CountScope("calls", dt(2024, 1, 1, tzinfo=UTC), dt(2024, 2, 1, tzinfo=UTC))],
    )
    with engine.connect() as conn:
        sql = str(statement.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql("SET enable_bitmapscan = off")
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
            assert "Index Only Scan using ix_events_usage" in plan, plan
        else:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "COVERING INDEX ix_events_usage" in plan, plan


# --- every way an event arrives -------------------------------------------------------


def _via_api_event(api: ApiClient, _clock: FrozenClock, event: dict[str, Any]) -> None:
    response: Any = api.post("events", {"event": event})
    assert response.status_code == 200, response.text


def _via_api_batch(api: ApiClient, _clock: FrozenClock, event: dict[str, Any]) -> None:
    _send(api, [event])


def _via_service(api: ApiClient, clock: FrozenClock, event: dict[str, Any]) -> None:
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        ingest.ingest_one(session, organization_id=api.org_id, raw=event, clock=clock)


def _via_bulk_append_elsewhere(api: ApiClient, clock: FrozenClock, event: dict[str, Any]) -> None:
    """Another process (its own engine) appending straight to the table, like the demo seed."""
    other = Database(create_engine(api.database.engine.url.render_as_string(False)))  # type: ignore[attr-defined]
    try:
        with other.unit_of_work() as session:
            row = ingest.prepare_one(
                organization_id=api.org_id, raw=event, now=clock.now(), expressions={}
            )
            bulk_events.append(session.connection(), [row])
    finally:
        other.engine.dispose()


INGESTION_PATHS = {
    "api_event": _via_api_event,
    "api_batch": _via_api_batch,
    "service": _via_service,
    "bulk_append_other_engine": _via_bulk_append_elsewhere,
}


@pytest.mark.parametrize("path", sorted(INGESTION_PATHS))
@pytest.mark.parametrize("code", [m[0] for m in METRICS])
def test_an_event_ingested_after_caching_is_in_the_next_answer(
    subscribed: ApiClient, clock: FrozenClock, path: str, code: str
) -> None:
    _send(subscribed, _events(120, start=JAN + timedelta(days=1), days=10))
    _get(subscribed)
    before = _assert_hit(subscribed, clock)
    # A late event: its timestamp is early in the period, before most cached events.
    INGESTION_PATHS[path](subscribed, clock, _event(10_001, code, JAN + timedelta(days=2)))
    after = _assert_miss(subscribed, clock)
    assert _events_count(after) == _events_count(before) + 1
    assert _assert_hit(subscribed, clock) == after


def test_a_miss_aggregates_again_only_the_codes_with_new_events(
    subscribed: ApiClient, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _send(subscribed, _events(200, start=JAN + timedelta(days=1), days=10))
    _get(subscribed)
    real: Callable[..., Any] = usage_cache._compute
    aggregated: list[set[str]] = []

    def recording(*args: Any) -> Any:
        plain, grouped = args[3], args[4]
        aggregated.append({r.metric.code for r in plain} | {r.metric.code for r, _ in grouped})
        return real(*args)

    monkeypatch.setattr(usage_cache, "_compute", recording)
    _send(
        subscribed,
        [
            _event(40_000, "gb_grouped", JAN + timedelta(days=5)),
            _event(40_001, "seats", JAN + timedelta(days=6)),
            _event(40_002, "seats", JAN + timedelta(days=7)),
        ],
    )
    before = _stats(subscribed)
    after = _get(subscribed)
    monkeypatch.setattr(usage_cache, "_compute", real)
    assert aggregated == [{"gb_grouped", "seats"}]
    assert _stats(subscribed).misses == before.misses + 1
    assert after == _fresh(subscribed, clock)
    assert _events_count(after) == 203
    assert _assert_hit(subscribed, clock) == after


def test_a_duplicate_event_changes_nothing(subscribed: ApiClient, clock: FrozenClock) -> None:
    events = _events(50, start=JAN + timedelta(days=1), days=10)
    _send(subscribed, events)
    first = _get(subscribed)
    response: Any = subscribed.post("events", {"event": events[3]})
    assert response.status_code == 422, response.text
    assert _assert_hit(subscribed, clock) == first


def test_events_outside_the_window_keep_the_entry(
    subscribed: ApiClient, clock: FrozenClock
) -> None:
    _send(subscribed, _events(50, start=JAN + timedelta(days=1), days=10))
    first = _get(subscribed)
    _via_service(subscribed, clock, _event(1, "calls", datetime(2024, 2, 3, tzinfo=UTC)))
    response: Any = subscribed.post(
        "events", {"event": {**_event(2, "calls", JAN), "external_subscription_id": "other"}}
    )
    assert response.status_code == 200, response.text
    assert _assert_hit(subscribed, clock) == first


def test_a_changed_charge_is_not_served_from_the_old_entry(
    subscribed: ApiClient, clock: FrozenClock
) -> None:
    _send(subscribed, _events(100, start=JAN + timedelta(days=1), days=10))
    _get(subscribed)
    _assert_hit(subscribed, clock)
    charge: Any = subscribed.get("plans/cache/charges/charge_gb")
    assert charge.status_code == 200, charge.text
    update = {
        "charge": {
            "charge_model": "standard",
            "properties": {"amount": "0.05"},
            "filters": [
                {"properties": {"amount": "0.04"}, "values": {"region": ["us"]}},
            ],
        }
    }
    response: Any = subscribed.put("plans/cache/charges/charge_gb", update)
    assert response.status_code == 200, response.text
    after = _assert_miss(subscribed, clock)
    [gb] = [c for c in after["charges_usage"] if c["charge"]["code"] == "charge_gb"]
    assert [f["values"] for f in gb["filters"] if f["values"]] == [{"region": ["us"]}]


# --- several processes on one database ------------------------------------------------


@pytest.fixture
def second_api(subscribed: ApiClient, clock: FrozenClock) -> Iterator[ApiClient]:
    """A second application instance (its own engine, its own cache) on the same database."""
    url = subscribed.database.engine.url.render_as_string(False)  # type: ignore[attr-defined]
    database = Database(create_engine(url))
    app = create_app(Settings(database_url=url), database=database, clock=clock)
    with TestClient(app) as client:
        yield ApiClient(client, subscribed.key, subscribed.org_id, database)
    database.engine.dispose()


def test_two_instances_never_serve_stale_usage(
    subscribed: ApiClient, second_api: ApiClient, clock: FrozenClock
) -> None:
    assert usage_cache.cache_for(subscribed.database.engine) is not usage_cache.cache_for(  # type: ignore[attr-defined]
        second_api.database.engine  # type: ignore[attr-defined]
    )
    _send(subscribed, _events(80, start=JAN + timedelta(days=1), days=10))
    one, two = _get(subscribed), _get(second_api)
    assert one == two
    instances = [subscribed, second_api]
    for n in range(6):
        writer, reader = instances[n % 2], instances[(n + 1) % 2]
        code = METRICS[n][0]
        _via_api_event(writer, clock, _event(20_000 + n, code, JAN + timedelta(days=3, hours=n)))
        seen = _assert_miss(reader, clock)
        assert _events_count(seen) == 81 + n
        assert _get(writer) == seen
        assert _assert_hit(reader, clock) == seen


# --- an event landing while an entry is computed --------------------------------------


def _insert_from_another_connection(api: ApiClient, clock: FrozenClock, n: int) -> None:
    _via_bulk_append_elsewhere(api, clock, _event(n, "calls", JAN + timedelta(days=4)))


@pytest.mark.parametrize("moment", ["before_aggregation", "after_aggregation"])
def test_an_event_committed_during_a_miss_is_never_hidden(
    subscribed: ApiClient,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    moment: str,
) -> None:
    """PostgreSQL: another transaction commits an event between the count and the
    aggregation, or right after the aggregation; the next answer must show it."""
    if subscribed.database.dialect != "postgresql":  # type: ignore[attr-defined]
        pytest.skip("SQLite: the count and the aggregation share one snapshot and lock")
    _send(subscribed, _events(60, start=JAN + timedelta(days=1), days=10))
    real: Callable[..., Any] = usage_cache._compute
    inserted = []

    def racing(*args: Any) -> Any:
        if moment == "before_aggregation":
            _insert_from_another_connection(subscribed, clock, 30_000)
        result = real(*args)
        if moment == "after_aggregation":
            _insert_from_another_connection(subscribed, clock, 30_001)
        inserted.append(True)
        return result

    monkeypatch.setattr(usage_cache, "_compute", racing)
    raced = _get(subscribed)
    monkeypatch.setattr(usage_cache, "_compute", real)
    assert inserted == [True]
    expected = 61 if moment == "before_aggregation" else 60
    assert _events_count(raced) == expected
    after = _assert_miss(subscribed, clock)
    assert _events_count(after) == 61
    assert _assert_hit(subscribed, clock) == after


# --- time -------------------------------------------------------------------------------


def test_time_dependent_aggregations_follow_the_clock(
    subscribed: ApiClient, clock: FrozenClock
) -> None:
    """Weighted sums, prorated sums and unique counts, recurring metrics: the window and
    period days come from the clock's period; every answer equals a fresh one."""
    _send(subscribed, _events(300, start=JAN + timedelta(days=1), days=13))
    january = _get(subscribed)
    clock.advance(timedelta(days=10))  # same period: same window, same figures
    assert _assert_hit(subscribed, clock) == january
    clock.set(datetime(2024, 2, 10, 12, tzinfo=UTC))  # next period: a new window
    february = _assert_miss(subscribed, clock)
    assert february["from_datetime"] == "2024-02-01T00:00:00Z"
    assert february != january
    by_code = {c["charge"]["code"]: c for c in february["charges_usage"]}
    assert by_code["charge_calls"]["events_count"] == 0
    assert by_code["charge_stored"]["units"] != "0.0", "recurring sums carry over"
    _send(subscribed, _events(40, start=datetime(2024, 2, 2, tzinfo=UTC), days=5, offset=900))
    after = _assert_miss(subscribed, clock)
    assert _events_count(after) == 40
    clock.set(datetime(2024, 1, 20, tzinfo=UTC))  # back: January's entry is still exact
    assert _assert_hit(subscribed, clock) == january
    clock.set(datetime(2024, 3, 5, tzinfo=UTC))
    _assert_miss(subscribed, clock)
    _assert_hit(subscribed, clock)


def test_a_terminated_subscription_window_is_its_own_key(
    subscribed: ApiClient, clock: FrozenClock
) -> None:
    """Proration depends on the window's end: a shorter window must not reuse the entry."""
    _send(subscribed, _events(100, start=JAN + timedelta(days=1), days=10))
    full = _get(subscribed)
    cached = _service_usage(subscribed.database, subscribed.org_id, clock.now(), cached=True)
    short = BillingPeriod(
        start=cached.window.start,
        end=datetime(2024, 1, 20, tzinfo=UTC),
        timezone=cached.window.timezone,
    )
    cache = usage_cache.cache_for(subscribed.database.engine)  # type: ignore[attr-defined]
    with subscribed.database.unit_of_work() as session:  # type: ignore[attr-defined]
        sub = active(session, organization_id=subscribed.org_id, external_id=SUB)
        assert sub is not None
        shorter = compute_usage(session, sub=sub, window=short, full_period_days=31, cache=cache)
        fresh = compute_usage(session, sub=sub, window=short, full_period_days=31)
    assert _aggregations(shorter) == _aggregations(fresh)
    assert _aggregations(shorter) != _aggregations(cached)
    assert _get(subscribed) == full
