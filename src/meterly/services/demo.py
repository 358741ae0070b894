"""A realistic demo organization: plans of several models, customers, months of events, invoices.

`seed` builds it through the same services the API uses (metrics, plans, customers,
subscriptions), appends the events in bulk through the event store, then bills every
closed month with `runs.run`, marks most older invoices paid and the rest overdue,
so the dashboard and the portal have something to show at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from meterly.services import runs
from meterly.services import subscriptions as subscription_service
from meterly.services.accounts import create_organization
from meterly.services.accounts import customers as customer_service
from meterly.services.billing import invoices as invoice_service
from meterly.services.catalog import billable_metrics as metrics
from meterly.services.catalog import plans
from meterly.services.common import Clock, FrozenClock, new_id
from meterly.store import bulk_events
from meterly.store.tables import Invoice, Organization
from meterly.store.uow import Database

_FIRST = (
    "Acme Bright Cobalt Delta Ember Fable Granite Harbor Indigo Juniper Kestrel Lumen Maple "
    "Nimbus Orbit Pine Quartz Raven Summit Tidal Umber Vertex Willow Xenon Yonder Zephyr"
).split()
_SECOND = "Labs Systems Cloud Analytics Works Health Logistics Media Robotics Foods".split()
_BATCH = 2000


@dataclass(frozen=True, slots=True)
class DemoReport:
    organization_id: str
    api_key: str
    customers: int
    events: int
    invoices: int
    first_customer: str


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _add_month(moment: datetime, count: int = 1) -> datetime:
    index = moment.year * 12 + moment.month - 1 + count
    return moment.replace(year=index // 12, month=index % 12 + 1)


def _metric(session: Any, org_id: str, clock: Clock, **fields: Any) -> str:
    row = metrics.create(
        session,
        organization_id=org_id,
        data=metrics.MetricInput(**fields, sent=frozenset(fields)),
        clock=clock,
    )
    return row.id


def _catalogue(session: Any, org_id: str, clock: Clock) -> None:
    calls = _metric(
        session,
        org_id,
        clock,
        name="API requests",
        code="api_requests",
        aggregation_type="sum_agg",
        field_name="requests",
    )
    storage = _metric(
        session,
        org_id,
        clock,
        name="Storage",
        code="storage_gb",
        aggregation_type="max_agg",
        field_name="gb",
        filters=[{"key": "region", "values": ["eu", "us"]}],
    )
    compute = _metric(
        session,
        org_id,
        clock,
        name="Compute hours",
        code="compute_hours",
        aggregation_type="sum_agg",
        field_name="hours",
    )
    graduated = {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 10000, "per_unit_amount": "0", "flat_amount": "0"},
            {
                "from_value": 10001,
                "to_value": 50000,
                "per_unit_amount": "0.001",
                "flat_amount": "0",
            },
            {
                "from_value": 50001,
                "to_value": None,
                "per_unit_amount": "0.0005",
                "flat_amount": "5",
            },
        ]
    }
    volume = {
        "volume_ranges": [
            {"from_value": 0, "to_value": 100, "per_unit_amount": "0.50", "flat_amount": "0"},
            {"from_value": 101, "to_value": None, "per_unit_amount": "0.30", "flat_amount": "0"},
        ]
    }
    catalogue: list[tuple[str, str, int, list[tuple[str, str, dict[str, Any], Any]]]] = [
        ("Starter", "starter", 2900, [(calls, "graduated", graduated, ())]),
        (
            "Growth",
            "growth",
            9900,
            [
                (calls, "package", {"amount": "2", "package_size": 1000, "free_units": 5000}, ()),
                (
                    storage,
                    "standard",
                    {"amount": "0.10"},
                    (
                        plans.FilterInput(
                            invoice_display_name="Storage EU",
                            properties={"amount": "0.12"},
                            values={"region": ["eu"]},
                        ),
                    ),
                ),
            ],
        ),
        (
            "Scale",
            "scale",
            49900,
            [(compute, "volume", volume, ()), (calls, "standard", {"amount": "0.0004"}, ())],
        ),
    ]
    for name, code, amount, charges in catalogue:
        plans.create(
            session,
            organization_id=org_id,
            data=plans.PlanInput(
                name=name,
                code=code,
                interval="monthly",
                amount_cents=amount,
                amount_currency="USD",
                pay_in_advance=False,
                charges=tuple(
                    plans.ChargeInput(
                        billable_metric_id=metric_id,
                        charge_model=model,
                        properties=properties,
                        filters=filters or None,
                    )
                    for metric_id, model, properties, filters in charges
                ),
            ),
            clock=clock,
        )


@dataclass(frozen=True, slots=True)
class _Customer:
    external_id: str
    plan: str
    started: datetime
    intensity: float


def _customers(rng: random.Random, count: int, start: datetime) -> list[_Customer]:
    result = []
    for i in range(count):
        plan = rng.choices(["starter", "growth", "scale"], weights=[5, 3, 1])[0]
        # Most customers are there from the start; some join in the second or third month.
        offset = rng.choice([0, 0, 0, 0, 0, 1, 2])
        started = _add_month(start, offset) + timedelta(days=rng.randint(0, 9) if offset else 0)
        result.append(
            _Customer(
                external_id=f"cust_{i + 1:03d}",
                plan=plan,
                started=started,
                intensity=rng.uniform(0.3, 2.5),
            )
        )
    return result


def _events_of(
    rng: random.Random, org_id: str, c: _Customer, until: datetime, created: datetime
) -> Iterator[dict[str, Any]]:
    sub = f"sub_{c.external_id}"
    day = c.started
    n = 0
    storage = {"eu": rng.randint(20, 200), "us": rng.randint(10, 150)}
    while day < until:
        growth = 1 + (day - c.started).days / 120
        # A few usage reports a day, each a batch of requests.
        for _ in range(rng.randint(2, 5)):
            requests = max(int(rng.gauss(400, 150) * c.intensity * growth), 0)
            moment = day + timedelta(seconds=rng.randint(0, 86399))
            if moment >= until:
                continue
            n += 1
            yield _row(
                org_id, f"{sub}-r{n}", sub, "api_requests", moment,
                {"requests": requests}, created,
            )  # fmt: skip
        if c.plan == "growth":
            for region in ("eu", "us"):
                storage[region] = max(storage[region] + rng.randint(-3, 6), 0)
                n += 1
                yield _row(
                    org_id,
                    f"{sub}-s{n}",
                    sub,
                    "storage_gb",
                    day + timedelta(hours=6),
                    {"gb": storage[region], "region": region},
                    created,
                )
        if c.plan == "scale":
            n += 1
            hours = round(rng.uniform(1, 8) * c.intensity, 1)
            yield _row(
                org_id, f"{sub}-h{n}", sub, "compute_hours", day + timedelta(hours=9),
                {"hours": hours}, created,
            )  # fmt: skip
        day += timedelta(days=1)


def _row(
    org_id: str,
    transaction_id: str,
    sub: str,
    code: str,
    moment: datetime,
    properties: dict[str, Any],
    created: datetime,
) -> dict[str, Any]:
    return {
        "organization_id": org_id,
        "transaction_id": transaction_id,
        "external_subscription_id": sub,
        "code": code,
        "timestamp": moment,
        "properties": properties,
        "precise_total_amount_cents": None,
        "lago_id": new_id(),
        "created_at": created,
    }


def seed(
    database: Database,
    *,
    clock: Clock,
    name: str = "Demo",
    customers: int = 100,
    months: int = 3,
    api_key: str | None = None,
    random_seed: int = 7,
    on_step: Callable[[str], None] | None = None,
) -> DemoReport:
    """Create the demo organization and bill its past months. Returns its key once."""
    say = on_step or (lambda _m: None)
    rng = random.Random(random_seed)
    now = clock.now().astimezone(UTC)
    start = _add_month(_month_start(now), -months)
    setup = FrozenClock(start)
    with database.unit_of_work() as session:
        org, key = create_organization(session, name=name, clock=setup, api_key=api_key)
        org_row = session.get(Organization, org.id)
        assert org_row is not None
        org_row.net_payment_term = 15
        org_id = org.id
        _catalogue(session, org_id, setup)
        people = _customers(rng, customers, start)
        for c in people:
            first, second = rng.choice(_FIRST), rng.choice(_SECOND)
            customer_service.upsert(
                session,
                organization_id=org_id,
                data=customer_service.CustomerInput(
                    external_id=c.external_id,
                    fields={
                        "name": f"{first} {second}",
                        "email": f"billing@{first.lower()}{second.lower()}.example",
                        "currency": "USD",
                    },
                ),
                clock=setup,
            )
            subscription_service.create(
                session,
                organization_id=org_id,
                data=subscription_service.SubscriptionInput(
                    external_customer_id=c.external_id,
                    plan_code=c.plan,
                    external_id=f"sub_{c.external_id}",
                    subscription_at=c.started,
                ),
                clock=FrozenClock(c.started),
            )
    say(f"organization, 3 plans and {customers} customers created")
    total = 0
    batch: list[dict[str, Any]] = []
    with database.unit_of_work() as session:
        conn = session.connection()
        for c in people:
            for row in _events_of(rng, org_id, c, now, now):
                batch.append(row)
                if len(batch) >= _BATCH:
                    total += bulk_events.append(conn, batch)
                    batch = []
        total += bulk_events.append(conn, batch)
    say(f"{total} events appended")
    boundary = _add_month(start)
    while boundary <= now:
        moment = boundary + timedelta(hours=1)
        runs.run(database, as_of=moment, clock=FrozenClock(moment), organization_id=org_id)
        say(f"billed {boundary:%Y-%m}")
        boundary = _add_month(boundary)
    invoices = _settle(database, org_id=org_id, rng=rng, now=now)
    return DemoReport(
        organization_id=org_id,
        api_key=key.secret,
        customers=customers,
        events=total,
        invoices=invoices,
        first_customer=people[0].external_id if people else "",
    )


def _settle(database: Database, *, org_id: str, rng: random.Random, now: datetime) -> int:
    """Most invoices are paid a few days after issue; some fail; the rest become overdue."""
    from sqlalchemy import select

    with database.unit_of_work() as session:
        rows = list(
            session.scalars(
                select(Invoice)
                .where(Invoice.organization_id == org_id, Invoice.status == "finalized")
                .order_by(Invoice.issuing_date, Invoice.id)
            )
        )
        for inv in rows:
            paid_at = inv.issuing_date + timedelta(days=rng.randint(1, 20))
            roll = rng.random()
            if paid_at < now and roll < 0.8:
                status = "succeeded"
            elif roll < 0.85:
                status = "failed"
            else:
                continue
            invoice_service.update(
                session,
                invoice=inv,
                payment_status=status,
                metadata=None,
                clock=FrozenClock(min(paid_at, now)),
            )
        invoice_service.mark_overdue(session, clock=FrozenClock(now), organization_id=org_id)
        return len(rows)
