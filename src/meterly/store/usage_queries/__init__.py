"""Usage aggregations pushed into SQL, on SQLite and PostgreSQL.

Each function returns the same `AggregationResult` as the reference
`meterly.domain.aggregation.aggregate` over the same events (a property test holds them
equal). Counts, exact decimal sums, maxima, weighted sums (their order-free form:
Σ value × seconds to the window's end), the latest value and unique counts are computed
by the database; only prorated aggregations and per-event values fetch ordered rows
(numeric events of the window only; for a prorated unique count, the values still present
before the window plus the window's operations) and finish with the domain's functions.

Property values: text and numeric value per backend, see `properties`.

Ordering for latest values and add/remove sequences: `timestamp, created_at, lago_id`.

`aggregate_values` answers many requests for one subscription, or for a billing run's
batch of them, with one scan of their events (grouped by subscription), plus a probe for
latest values and a statement when some request needs rows; see its docstring.

The modules, each importing only those before it: `request` (what is asked),
`properties` (property SQL per backend), `conditions` (which events), `aggregates`
(statement 1), `rows` (statement 2), `results` (assembly), `entries` (the public entries).
Every public name is re-exported here.
"""

from meterly.store.usage_queries.aggregates import (
    aggregate_columns,
    aggregate_values,
    count_columns,
)
from meterly.store.usage_queries.conditions import request_conditions
from meterly.store.usage_queries.entries import (
    GroupKey,
    aggregate_grouped_usage,
    aggregate_subscription_usage,
    aggregate_usage,
    usage_groups,
)
from meterly.store.usage_queries.request import UsageRequest

__all__ = [
    "GroupKey",
    "UsageRequest",
    "aggregate_columns",
    "aggregate_grouped_usage",
    "aggregate_subscription_usage",
    "aggregate_usage",
    "aggregate_values",
    "count_columns",
    "request_conditions",
    "usage_groups",
]
