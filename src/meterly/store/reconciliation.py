"""The fate of every stored event, computed in SQL: billed, pending, or never billed and why.

One classifier (`fate_column`) serves the events API, the dashboard's explorer and the
reconciliation report, so the three can never disagree. It is a CASE over correlated
EXISTS probes on the subscriptions, metrics, charges and finalized invoice periods of the
event's organization; it reads only indexed keys and works the same on SQLite and
PostgreSQL. The report groups by (subscription, code, day, fate) in the database, so its
memory is bounded by the number of groups, never by the number of events.

Fates, in the order they are tested (the first that applies wins):

- `voided`: voided by a correction (services/corrections); its row stays, it counts nowhere;
- `unknown metric`: no live billable metric has the event's code;
- `timestamp implausible`: before 2000-01-01, or more than a day after it was received;
- `no such subscription`: no subscription of the organization has the external id;
- `value not numeric for a sum/max/weighted metric`: the metric's field is missing or not a
  plain number, for a metric whose aggregation reads numbers;
- `after termination` / `before subscription start`: no subscription with the external id
  was running at the timestamp (a recurring sum, unique count or weighted sum carries
  earlier events over, so they are never "before start");
- `metric not charged by the plan`: the running subscription's plan has no charge on it;
- `period already invoiced`: the event arrived after the finalized invoice of its period
  (`billed` instead once a correction run billed it, for an organization accepting late
  events);
- `billed`: counted by a finalized invoice (received before that invoice was finalized);
- `pending`: none of the above: the next invoice will count it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection, RowMapping

from meterly.store.event_stores.config import for_source
from meterly.store.reconciliation_staged import staged_fate_counts
from meterly.store.tables import (
    BillableMetricRow,
    Charge,
    Customer,
    EventCorrection,
    Fee,
    Invoice,
    InvoiceSubscription,
    Subscription,
    events,
)
from meterly.store.types import AwareDateTime

BILLED = "billed"
PENDING = "pending"
UNKNOWN_METRIC = "unknown metric"
IMPLAUSIBLE = "timestamp implausible"
NO_SUBSCRIPTION = "no such subscription"
NOT_NUMERIC = "value not numeric for a sum/max/weighted metric"
AFTER_TERMINATION = "after termination"
BEFORE_START = "before subscription start"
NOT_CHARGED = "metric not charged by the plan"
ALREADY_INVOICED = "period already invoiced"
VOIDED = "voided"

# Every reason an event will never be billed, in the classifier's order.
REASONS: tuple[str, ...] = (
    VOIDED,
    UNKNOWN_METRIC,
    IMPLAUSIBLE,
    NO_SUBSCRIPTION,
    NOT_NUMERIC,
    AFTER_TERMINATION,
    BEFORE_START,
    NOT_CHARGED,
    ALREADY_INVOICED,
)
FATES: tuple[str, ...] = (BILLED, PENDING, *REASONS)

# Earliest plausible usage: nothing metered by this software predates it.
EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)
_NUMERIC_AGGREGATIONS = ("sum_agg", "max_agg", "weighted_sum_agg")
_CARRIED_OVER = ("sum_agg", "unique_count_agg", "weighted_sum_agg")
_PG_PLAIN_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"


def _dialect(conn: Connection) -> str:
    return conn.dialect.name


def _received_plus_a_day(dialect: str, source: sa.Table = events) -> ColumnElement[Any]:
    e = source.c
    if dialect == "postgresql":
        return sa.type_coerce(e.created_at + sa.text("interval '1 day'"), AwareDateTime())
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" text: strftime keeps the same shape.
    return sa.func.strftime("%Y-%m-%d %H:%M:%f", e.created_at, "+1 day")


def _field_is_number(
    dialect: str, field: ColumnElement[Any], source: sa.Table = events
) -> ColumnElement[bool]:
    """The event's value of the metric's field (a column, not a literal) is a plain number."""
    props = source.c.properties
    if dialect == "postgresql":
        text = props.op("->>", return_type=sa.Text())(field)
        return sa.and_(text.is_not(None), text.op("~")(sa.literal(_PG_PLAIN_NUMBER, sa.Text())))
    path = sa.literal('$."', sa.String()) + field + sa.literal('"', sa.String())
    return sa.func.decimal_text(sa.func.json_extract(props, path)).is_not(None)


def _day(dialect: str, source: sa.Table = events) -> ColumnElement[str]:
    ts = source.c.timestamp
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", ts), "YYYY-MM-DD")
    return sa.func.substr(ts, 1, 10)


def _finalized_at(inv: sa.FromClause) -> ColumnElement[Any]:
    return sa.func.coalesce(inv.c.finalized_at, inv.c.created_at)


def _invoiced_period(
    source: sa.Table,
    s: sa.FromClause,
    isub: sa.FromClause,
    inv: sa.FromClause,
    *received: ColumnElement[bool],
) -> ColumnElement[bool]:
    """A finalized invoice covers the row's timestamp for its subscription (`received`:
    further conditions on when the row arrived)."""
    e = source.c
    return sa.exists().where(
        s.c.organization_id == e.organization_id,
        s.c.external_id == e.external_subscription_id,
        isub.c.subscription_id == s.c.id,
        isub.c.invoicing_reason != "in_advance_charge",
        isub.c.charges_from_datetime <= e.timestamp,
        e.timestamp <= isub.c.charges_to_datetime,
        inv.c.id == isub.c.invoice_id,
        inv.c.status == "finalized",
        *received,
    )


def received_after_invoicing(source: sa.Table) -> ColumnElement[bool]:
    """The row arrived after the finalized invoice of its period: its fate then depends on
    its rank among the period's events in reception order (see `fate_column`)."""
    s = Subscription.__table__.alias("late_sub")
    isub = InvoiceSubscription.__table__.alias("late_period")
    inv = Invoice.__table__.alias("late_invoice")
    return _invoiced_period(source, s, isub, inv, source.c.created_at > _finalized_at(inv))


def fate_column(dialect: str, source: sa.Table = events) -> ColumnElement[str]:
    """The fate of the `events` row in scope (a label from FATES), as one SQL expression.

    `source`: a table shaped as `events` holding the rows to classify (by default the
    events table itself; a staging table of events read from ClickHouse otherwise)."""
    e = source.c
    m = BillableMetricRow.__table__.alias("fate_metric")
    s = Subscription.__table__.alias("fate_sub")
    ch = Charge.__table__.alias("fate_charge")
    isub = InvoiceSubscription.__table__.alias("fate_period")
    inv = Invoice.__table__.alias("fate_invoice")
    fee = Fee.__table__.alias("fate_fee")
    metric_of_event = sa.and_(
        m.c.organization_id == e.organization_id, m.c.code == e.code, m.c.deleted_at.is_(None)
    )

    def metric_value(column: ColumnElement[Any]) -> sa.ScalarSelect[Any]:
        # Correlated explicitly: nested inside other EXISTS, auto-correlation would not
        # reach the outer `events` row.
        return sa.select(column).where(metric_of_event).limit(1).correlate(source).scalar_subquery()

    same_subscription = sa.and_(
        s.c.organization_id == e.organization_id, s.c.external_id == e.external_subscription_id
    )
    running = sa.and_(
        same_subscription,
        s.c.started_at.is_not(None),
        s.c.started_at <= e.timestamp,
        sa.or_(s.c.terminated_at.is_(None), e.timestamp <= s.c.terminated_at),
    )
    aggregation = metric_value(m.c.aggregation_type)
    carried_over = sa.and_(metric_value(m.c.recurring) == sa.true(), aggregation.in_(_CARRIED_OVER))
    charged = sa.exists().where(
        running,
        ch.c.plan_id == s.c.plan_id,
        ch.c.deleted_at.is_(None),
        ch.c.billable_metric_id == metric_value(m.c.id),
    )

    def invoiced(*received: ColumnElement[bool]) -> ColumnElement[bool]:
        return _invoiced_period(source, s, isub, inv, *received)

    finalized_at = _finalized_at(inv)
    # An event received after its invoice's finalization instant was still counted when
    # the run was dated in the past (`meterly bill --as-of`, the demo): then its rank in
    # reception order, within the window, is within the events the invoice's fees counted.
    e2 = source.alias("fate_earlier")
    fee2 = Fee.__table__.alias("fate_counted_fee")
    ch2 = Charge.__table__.alias("fate_counted_charge")
    rank = (
        sa.select(sa.func.count())
        .select_from(e2)
        .where(
            e2.c.organization_id == e.organization_id,
            e2.c.external_subscription_id == e.external_subscription_id,
            e2.c.code == e.code,
            e2.c.timestamp >= isub.c.charges_from_datetime,
            e2.c.timestamp <= isub.c.charges_to_datetime,
            sa.or_(
                e2.c.created_at < e.created_at,
                sa.and_(e2.c.created_at == e.created_at, e2.c.lago_id <= e.lago_id),
            ),
        )
        .correlate(source, isub)
        .scalar_subquery()
    )
    counted = (
        sa.select(sa.func.coalesce(sa.func.sum(fee2.c.events_count), 0))
        .select_from(fee2.join(ch2, ch2.c.id == fee2.c.charge_id))
        .where(
            fee2.c.invoice_id == inv.c.id,
            fee2.c.subscription_id == s.c.id,
            fee2.c.deleted_at.is_(None),
            fee2.c.event_transaction_id.is_(None),
            ch2.c.billable_metric_id == metric_value(m.c.id),
        )
        .correlate(source, inv, s)
        .scalar_subquery()
    )
    # A pay-in-advance fee names its event: that event is billed whatever its period.
    charged_in_advance = sa.exists().where(
        running,
        ch.c.plan_id == s.c.plan_id,
        ch.c.deleted_at.is_(None),
        ch.c.pay_in_advance == sa.true(),
        ch.c.billable_metric_id == metric_value(m.c.id),
    )
    # A pay-in-advance fee names its event: that event is billed whatever its period. Its
    # probe runs only for metrics charged in advance (the fee lookup is the costly part).
    billed_in_advance = sa.and_(
        charged_in_advance,
        sa.select(fee.c.id)
        .select_from(
            fee.join(s, s.c.id == fee.c.subscription_id).join(inv, inv.c.id == fee.c.invoice_id)
        )
        .where(
            s.c.organization_id == e.organization_id,
            s.c.external_id == e.external_subscription_id,
            fee.c.event_transaction_id == e.transaction_id,
            inv.c.status == "finalized",
        )
        .correlate(source)
        .exists(),
    )
    late = EventCorrection.__table__.alias("fate_late")
    # A late event a correction run billed (organizations accepting late events).
    billed_late = (
        sa.select(late.c.id)
        .where(
            late.c.organization_id == e.organization_id,
            late.c.transaction_id == e.transaction_id,
            late.c.external_subscription_id == e.external_subscription_id,
            late.c.kind == "late",
            late.c.applied_at.is_not(None),
        )
        .correlate(source)
        .exists()
    )
    dialect_name = dialect
    return sa.case(
        (e.voided_at.is_not(None), sa.literal(VOIDED)),
        (~sa.exists().where(metric_of_event), sa.literal(UNKNOWN_METRIC)),
        (
            sa.or_(
                e.timestamp < EARLIEST_PLAUSIBLE,
                e.timestamp > _received_plus_a_day(dialect_name, source),
            ),
            sa.literal(IMPLAUSIBLE),
        ),
        (~sa.exists().where(same_subscription), sa.literal(NO_SUBSCRIPTION)),
        (
            sa.and_(
                aggregation.in_(_NUMERIC_AGGREGATIONS),
                ~_field_is_number(dialect_name, metric_value(m.c.field_name), source),
            ),
            sa.literal(NOT_NUMERIC),
        ),
        (
            sa.and_(
                ~sa.exists().where(running),
                sa.exists().where(
                    same_subscription,
                    s.c.terminated_at.is_not(None),
                    s.c.terminated_at < e.timestamp,
                ),
            ),
            sa.literal(AFTER_TERMINATION),
        ),
        (
            sa.and_(~sa.exists().where(running), ~carried_over),
            sa.literal(BEFORE_START),
        ),
        (sa.and_(sa.exists().where(running), ~charged), sa.literal(NOT_CHARGED)),
        (invoiced(e.created_at <= finalized_at), sa.literal(BILLED)),
        (invoiced(e.created_at > finalized_at, rank <= counted), sa.literal(BILLED)),
        (billed_in_advance, sa.literal(BILLED)),
        (billed_late, sa.literal(BILLED)),
        (invoiced(e.created_at > finalized_at), sa.literal(ALREADY_INVOICED)),
        else_=sa.literal(PENDING),
    )


@dataclass(frozen=True, slots=True)
class FateCount:
    """How many events of one subscription, metric code and day have one fate."""

    organization_id: str
    external_subscription_id: str
    code: str
    day: date
    fate: str
    events: int


def fate_counts(
    conn: Connection,
    *,
    organization_id: str | None = None,
    timestamp_from: datetime | None = None,
    timestamp_to: datetime | None = None,
) -> Iterator[FateCount]:
    """Event counts per (organization, subscription, code, UTC day, fate), streamed in order.

    With the events in ClickHouse, each subscription's events are staged next to the
    catalog and classified there by the same `fate_column` (`reconciliation_staged`)."""
    store = for_source(conn)
    if store is not None:
        yield from staged_fate_counts(
            conn,
            store,
            classify=source_fate_counts,
            organization_id=organization_id,
            timestamp_from=timestamp_from,
            timestamp_to=timestamp_to,
        )
        return
    yield from source_fate_counts(
        conn,
        events,
        organization_id=organization_id,
        timestamp_from=timestamp_from,
        timestamp_to=timestamp_to,
    )


def source_fate_counts(
    conn: Connection,
    source: sa.Table,
    *,
    organization_id: str | None = None,
    timestamp_from: datetime | None = None,
    timestamp_to: datetime | None = None,
) -> Iterator[FateCount]:
    """`fate_counts` over the rows of `source` (the events table, or a staging table)."""
    e = source.c
    dialect = _dialect(conn)
    where: list[ColumnElement[bool]] = []
    if organization_id is not None:
        where.append(e.organization_id == organization_id)
    if timestamp_from is not None:
        where.append(e.timestamp >= timestamp_from)
    if timestamp_to is not None:
        where.append(e.timestamp < timestamp_to)
    inner = sa.select(
        e.organization_id,
        e.external_subscription_id,
        e.code,
        _day(dialect, source).label("day"),
        fate_column(dialect, source).label("fate"),
    )
    inner_q = inner.where(*where).subquery()
    keys = [
        inner_q.c.organization_id,
        inner_q.c.external_subscription_id,
        inner_q.c.code,
        inner_q.c.day,
        inner_q.c.fate,
    ]
    query = sa.select(*keys, sa.func.count()).group_by(*keys).order_by(*keys)
    for r in conn.execute(query.execution_options(stream_results=True, yield_per=1000)):
        yield FateCount(
            organization_id=str(r[0]),
            external_subscription_id=r[1],
            code=r[2],
            day=date.fromisoformat(r[3]),
            fate=r[4],
            events=int(r[5]),
        )


def customers_of(
    conn: Connection, organization_id: str, external_subscription_ids: Sequence[str]
) -> dict[str, str]:
    """External subscription id -> the external id of its customer."""
    if not external_subscription_ids:
        return {}
    s, c = Subscription.__table__, Customer.__table__
    query = (
        sa.select(s.c.external_id, c.c.external_id)
        .join(c, c.c.id == s.c.customer_id)
        .where(
            s.c.organization_id == organization_id,
            s.c.external_id.in_(list(external_subscription_ids)),
        )
    )
    return {str(r[0]): str(r[1]) for r in conn.execute(query)}


def reason_of(row: RowMapping | dict[str, Any]) -> str | None:
    """The never-billed reason of a row carrying a `fate`, or None when it is or will be billed."""
    fate = row.get("fate")
    return fate if fate in REASONS else None
