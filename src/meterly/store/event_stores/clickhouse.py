"""The ClickHouse event store: appending events once, and reading them back.

Exactly once. An insert is acknowledged only when ClickHouse has written its part (chdb
writes synchronously; the server client disables async inserts). Before inserting, the
store asks which (transaction id, subscription) keys it holds already and inserts only the
new rows: one process (chdb, or one API process on a server) checks and inserts under one
lock, so a duplicate gets Lago's 422 exactly as on PostgreSQL, and a batch holding one
is not inserted at all (all or nothing). Two API processes racing on the same new key
against a server can both pass the check: both answer 200 (as Lago's own ClickHouse
pipeline does), and the second row, equal in its sorting key, is collapsed by
`ReplacingMergeTree` and by `FINAL` in every query, so no figure counts it twice.

Usage aggregations live in `usage` (same package): this module writes and lists events.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from meterly.domain.aggregation import numeric_value, property_text
from meterly.store.event_stores.connection import Transport, open_transport
from meterly.store.event_stores.schema import (
    DECIMAL_SCALE,
    DERIVED,
    derived_statements,
    schema_statements,
)
from meterly.store.event_stores.sql import (
    decimal_or_none,
    identifier,
    instant,
    instant_text,
    parse_instant,
    text,
    texts,
)

Key = tuple[str, str]
_EVENT_COLUMNS = (
    "organization_id, transaction_id, external_subscription_id, code, timestamp,"
    " properties_json, precise_total_amount_cents, lago_id, created_at"
)
# Keys asked for at once when checking for duplicates.
_KEY_CHUNK = 5_000
# What Decimal(76, 30) holds: 46 integer digits, 30 decimal places.
_INTEGER_DIGITS = 76 - DECIMAL_SCALE
_INT_LIMIT = 10**_INTEGER_DIGITS


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


class ClickHouseEvents:
    """Events in ClickHouse through one transport (chdb or a server)."""

    def __init__(self, url: str, *, cluster: str | None = None) -> None:
        self.url = url
        self.cluster = cluster or None
        self.transport: Transport = open_transport(url)
        self.database = identifier(self.transport.database)
        self.table = f"{self.database}.events"
        # Check-then-insert is one step per process: a duplicate cannot slip between.
        self._write_lock = threading.Lock()

    # --- schema ----------------------------------------------------------------------------

    def create_schema(self) -> None:
        """The events table, its duplicate-check keys and its hourly rollup. A derived table
        created over stored events is filled from them first (`FINAL`: each event once;
        through the `Distributed` tables on a cluster), then its view takes the new
        inserts. The caller holds the ingestion lock (`meterly db upgrade` does), so no
        insert falls between the two."""
        for statement in schema_statements(self.database, self.cluster):
            self.transport.command(statement)
        for derived in DERIVED:
            if self._has_table(f"{derived.name}_view"):
                continue
            tables, view = derived_statements(self.database, derived, self.cluster)
            for statement in tables:
                self.transport.command(statement)
            self._truncate(derived.name)
            self.transport.command(
                f"INSERT INTO {self.database}.{derived.name} {derived.select}"
                f" FROM {self.table} FINAL{derived.group}"
            )
            self.transport.command(view)

    def _has_table(self, name: str) -> bool:
        rows = self.transport.query(
            f"SELECT count() FROM system.tables WHERE database = {text(self.database)}"
            f" AND name = {text(name)}"
        )
        return int(str(rows[0][0])) > 0

    def truncate(self) -> None:
        """Empty the events table and the tables derived from it (tests, and a migration
        started over)."""
        for name in ("events", *(derived.name for derived in DERIVED)):
            self._truncate(name)

    def _truncate(self, name: str) -> None:
        # On a cluster the data is in each shard's `_local` table.
        local = f"{name}_local ON CLUSTER {identifier(self.cluster)}" if self.cluster else name
        self.transport.command(f"TRUNCATE TABLE IF EXISTS {self.database}.{local}")

    def close(self) -> None:
        self.transport.close()

    # --- writes ----------------------------------------------------------------------------

    def existing_keys(self, organization_id: str, keys: Iterable[Key]) -> set[Key]:
        """Which of these (transaction id, subscription) keys are stored: a primary-key
        lookup of the transaction ids in `events_keys`, the pairs matched here."""
        wanted = set(keys)
        ids = sorted({t for t, _ in wanted})
        found: set[Key] = set()
        for start in range(0, len(ids), _KEY_CHUNK):
            rows = self.transport.query(
                f"SELECT transaction_id, external_subscription_id FROM {self.database}.events_keys"
                f" WHERE organization_id = {text(organization_id)}"
                f" AND transaction_id IN {texts(ids[start : start + _KEY_CHUNK])}"
            )
            found.update(key for key in ((r[0], r[1]) for r in rows) if key in wanted)
        return found

    def append_groups(
        self, groups: Sequence[tuple[Sequence[dict[str, Any]], bool]]
    ) -> list[set[Key]]:
        """Store several requests' rows with one duplicate check and one INSERT.

        Each group is (rows, all_or_nothing); returns each group's keys that were new. An
        all-or-nothing group holding an old key stores nothing (its caller answers 422).
        """
        with self._write_lock:
            stored: set[tuple[str, Key]] = set()
            by_org: dict[str, set[Key]] = {}
            for rows, _ in groups:
                for r in rows:
                    by_org.setdefault(r["organization_id"], set()).add(_key(r))
            for org, keys in by_org.items():
                stored |= {(org, key) for key in self.existing_keys(org, keys)}
            accepted: list[dict[str, Any]] = []
            answers: list[set[Key]] = []
            for rows, all_or_nothing in groups:
                new = [r for r in rows if (r["organization_id"], _key(r)) not in stored]
                if all_or_nothing and len(new) != len(rows):
                    answers.append({_key(r) for r in new})
                    continue
                for r in new:  # a key twice in one request, or in two: the first wins
                    stored.add((r["organization_id"], _key(r)))
                accepted += new
                answers.append({_key(r) for r in new})
            self._insert(accepted)
            return answers

    def insert_new(
        self, rows: Sequence[dict[str, Any]], *, all_or_nothing: bool = True
    ) -> set[Key]:
        return self.append_groups([(rows, all_or_nothing)])[0]

    def insert_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows without the duplicate check (a migration that checked them itself)."""
        self._insert(rows)

    def _insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        # A group's rows share one ingestion instant: format it once.
        first = rows[0]["created_at"]
        shared = instant_text(first)
        lines = b"\n".join(
            orjson.dumps(_ch_row(r, shared if r["created_at"] is first else None)) for r in rows
        )
        self.transport.command(f"INSERT INTO {self.table} FORMAT JSONEachRow\n" + lines.decode())

    # --- reads for the events API ------------------------------------------------------------

    def find_by_transaction_id(
        self, organization_id: str, transaction_id: str
    ) -> dict[str, Any] | None:
        """The first stored event of this transaction id: its subscriptions from the keys
        (a primary-key lookup), then the event within those subscriptions' ranges."""
        org, tx = text(organization_id), text(transaction_id)
        sids = [
            str(r[0])
            for r in self.transport.query(
                f"SELECT DISTINCT external_subscription_id FROM {self.database}.events_keys"
                f" WHERE organization_id = {org} AND transaction_id = {tx}"
            )
        ]
        if not sids:
            return None
        rows = self.transport.query(
            f"SELECT {_EVENT_COLUMNS} FROM {self.table} FINAL"
            f" WHERE organization_id = {org} AND external_subscription_id IN {texts(sids)}"
            f" AND transaction_id = {tx} ORDER BY created_at, lago_id LIMIT 1"
        )
        return _event(rows[0]) if rows else None

    def list_page(
        self,
        *,
        organization_id: str,
        page: int,
        per_page: int,
        code: str | None = None,
        external_subscription_id: str | None = None,
        timestamp_from: datetime | None = None,
        timestamp_to: datetime | None = None,
        external_subscription_ids: Sequence[str] | None = None,
        transaction_id: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of events, newest first (the events API, the dashboard's explorer)."""
        where = [f"organization_id = {text(organization_id)}"]
        if code:
            where.append(f"code = {text(code)}")
        if external_subscription_id:
            where.append(f"external_subscription_id = {text(external_subscription_id)}")
        if external_subscription_ids is not None:
            if not external_subscription_ids:
                return [], 0
            where.append(f"external_subscription_id IN {texts(external_subscription_ids)}")
        if transaction_id:
            where.append(f"transaction_id = {text(transaction_id)}")
        if timestamp_from:
            where.append(f"timestamp >= {instant(timestamp_from)}")
        if timestamp_to:
            where.append(f"timestamp <= {instant(timestamp_to)}")
        condition = " AND ".join(where)
        total = self.transport.query(f"SELECT count() FROM {self.table} FINAL WHERE {condition}")
        rows = self.transport.query(
            f"SELECT {_EVENT_COLUMNS} FROM {self.table} FINAL WHERE {condition}"
            f" ORDER BY timestamp DESC, transaction_id"
            f" LIMIT {int(per_page)} OFFSET {max(0, (int(page) - 1) * int(per_page))}"
        )
        return [_event(r) for r in rows], int(total[0][0])

    def events_in_window(
        self,
        *,
        organization_id: str,
        external_subscription_id: str,
        codes: Sequence[str],
        window_from: datetime,
        window_to: datetime,
    ) -> list[dict[str, Any]]:
        """Pay-in-advance pricing: some codes' events of one subscription, in time order."""
        rows = self.transport.query(
            f"SELECT {_EVENT_COLUMNS} FROM {self.table} FINAL"
            f" WHERE organization_id = {text(organization_id)}"
            f" AND external_subscription_id = {text(external_subscription_id)}"
            f" AND code IN {texts(codes)} AND timestamp >= {instant(window_from)}"
            f" AND timestamp <= {instant(window_to)} ORDER BY timestamp, transaction_id"
        )
        return [_event(r) for r in rows]

    def totals_by_subscription(
        self, organization_id: str | None = None
    ) -> dict[Key, tuple[int, Decimal]]:
        """(organization, subscription) -> (events, sum of precise amounts): migration checks."""
        where = f" WHERE organization_id = {text(organization_id)}" if organization_id else ""
        rows = self.transport.query(
            "SELECT organization_id, external_subscription_id, count(),"
            f" sum(ifNull(precise_total_amount_cents, 0)) FROM {self.table} FINAL{where}"
            " GROUP BY organization_id, external_subscription_id"
        )
        return {(r[0], r[1]): (int(r[2]), Decimal(str(r[3]))) for r in rows}


def _key(row: dict[str, Any]) -> Key:
    return (row["transaction_id"], row["external_subscription_id"])


def _exact_number(value: object) -> str | None:
    """The domain's numeric value as decimal text, when Decimal(76, 30) holds it exactly."""
    number = numeric_value(value)
    if number is None:
        return None
    _, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int) or -exponent > DECIMAL_SCALE:
        return None
    if len(digits) + exponent > _INTEGER_DIGITS:
        return None
    return format(number, "f")


def _ch_row(r: dict[str, Any], created_at: str | None = None) -> dict[str, Any]:
    """A row as the table takes it: each property's text and number, and the raw JSON."""
    props: dict[str, Any] = r["properties"] or {}
    texts_of: dict[str, str] = {}
    numbers: dict[str, str] = {}
    for key, value in props.items():
        if type(value) is int and -_INT_LIMIT < value < _INT_LIMIT:
            # The usual metric value, an integer: its text is its exact number.
            texts_of[str(key)] = numbers[str(key)] = str(value)
            continue
        shown = value if type(value) is str else property_text(value)
        if shown is None:  # a null value reads as missing, as `->>` gives NULL
            continue
        texts_of[str(key)] = shown
        number = _exact_number(value)
        if number is not None:
            numbers[str(key)] = number
    return {
        "organization_id": r["organization_id"],
        "transaction_id": r["transaction_id"],
        "external_subscription_id": r["external_subscription_id"],
        "code": r["code"],
        "timestamp": instant_text(r["timestamp"]),
        "properties": texts_of,
        "numbers": numbers,
        "properties_json": orjson.dumps(props, default=_json_default).decode(),
        "precise_total_amount_cents": _decimal_text(r.get("precise_total_amount_cents")),
        "lago_id": r["lago_id"],
        "created_at": created_at or instant_text(r["created_at"]),
    }


def _event(row: list[Any]) -> dict[str, Any]:
    return {
        "organization_id": row[0],
        "transaction_id": row[1],
        "external_subscription_id": row[2],
        "code": row[3],
        "timestamp": parse_instant(row[4]),
        "properties": orjson.loads(row[5]),
        "precise_total_amount_cents": decimal_or_none(row[6]),
        "lago_id": row[7],
        "created_at": parse_instant(row[8]),
    }
