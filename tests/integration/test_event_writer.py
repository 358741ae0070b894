"""The group-commit writer: one fast statement when all is new, savepoints when not.

Groups are built by hand so that each case (all new, an old row in one request, the same
new row in two requests of one group, a row the database refuses) is certain to happen
inside one group, on both backends.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from meterly.services.metering.event_writer import EventWriter, WriteResult, _Submission
from meterly.store.engine import create_engine
from meterly.store.repositories import events as event_store
from meterly.store.tables import events
from meterly.store.uow import Database

ORG = str(uuid.uuid4())
WHEN = datetime(2024, 1, 15, 12, 30, 45, 123456, tzinfo=UTC)
WHOLE_SECOND = datetime(2024, 1, 15, 12, 30, 45, tzinfo=UTC)


def row(tx: str, sub: str = "sub_1", **extra: Any) -> dict[str, Any]:
    return {
        "organization_id": ORG,
        "transaction_id": tx,
        "external_subscription_id": sub,
        "code": "api_calls",
        "timestamp": WHEN,
        "properties": {"value": "12.5", "region": "eu"},
        "precise_total_amount_cents": None,
        "lago_id": str(uuid.uuid4()),
        "created_at": WHEN,
        **extra,
    }


@pytest.fixture
def database(migrated_db_url: str) -> Database:
    return Database(create_engine(migrated_db_url))


def commit(database: Database, *requests: list[dict[str, Any]]) -> list[Any]:
    group = [_Submission(rows=rows, all_or_nothing=True) for rows in requests]
    EventWriter(database)._commit(group)
    outcomes: list[Any] = []
    for submission in group:
        error = submission.done.exception()
        outcomes.append(error if error is not None else submission.done.result())
    return outcomes


def stored(database: Database) -> list[tuple[str, str]]:
    with database.engine.connect() as conn:
        query = select(events.c.transaction_id, events.c.external_subscription_id)
        return sorted((r[0], r[1]) for r in conn.execute(query))


def test_a_group_of_new_rows_is_stored_whole(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow_path(*_: object) -> None:
        raise AssertionError("all new: one statement, no savepoints")

    monkeypatch.setattr(event_store, "insert_new", slow_path)
    outcomes = commit(database, [row("a"), row("b")], [row("c")])
    assert outcomes == [
        WriteResult({("a", "sub_1"), ("b", "sub_1")}, committed=True),
        WriteResult({("c", "sub_1")}, committed=True),
    ]
    assert stored(database) == [("a", "sub_1"), ("b", "sub_1"), ("c", "sub_1")]


def test_fast_path_stores_what_the_orm_path_stores(database: Database) -> None:
    """Same columns, same formats: a row read back is equal whichever path wrote it."""
    precise = Decimal("1234.567890123")
    commit(database, [row("fast", precise_total_amount_cents=precise)])
    with database.engine.begin() as conn:
        event_store.insert_new(conn, [row("orm", precise_total_amount_cents=precise)])
    with database.engine.connect() as conn:
        found = {r["transaction_id"]: dict(r) for r in conn.execute(select(events)).mappings()}
    fast, orm = found["fast"], found["orm"]
    for column in ("timestamp", "properties", "precise_total_amount_cents", "created_at"):
        assert fast[column] == orm[column], column
    assert fast["timestamp"] == WHEN
    assert fast["precise_total_amount_cents"] == precise
    # Usage SQL compares timestamps as stored: both paths must sort alike.
    with database.engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(events).where(events.c.timestamp >= WHEN)
        ).scalar_one()
    assert count == 2
    if database.dialect == "sqlite":  # the stored text itself, which SQL compares
        with database.engine.connect() as conn:
            texts = conn.exec_driver_sql(
                "SELECT timestamp, created_at, properties, precise_total_amount_cents"
                " FROM events ORDER BY transaction_id"
            ).all()
        assert texts[0] == texts[1]
        assert texts[0][0] == "2024-01-15 12:30:45.123456"


def test_an_old_row_rolls_back_only_its_own_request(database: Database) -> None:
    commit(database, [row("old")])
    outcomes = commit(database, [row("x")], [row("y"), row("old")], [row("z")])
    assert outcomes[0] == WriteResult({("x", "sub_1")}, committed=True)
    assert outcomes[1] == WriteResult({("y", "sub_1")}, committed=False)
    assert outcomes[2] == WriteResult({("z", "sub_1")}, committed=True)
    assert stored(database) == [("old", "sub_1"), ("x", "sub_1"), ("z", "sub_1")]


def test_the_same_new_row_in_two_requests_goes_to_the_first(database: Database) -> None:
    outcomes = commit(database, [row("p"), row("q")], [row("q")])
    assert outcomes[0] == WriteResult({("p", "sub_1"), ("q", "sub_1")}, committed=True)
    assert outcomes[1] == WriteResult(set(), committed=False)
    assert stored(database) == [("p", "sub_1"), ("q", "sub_1")]


def test_a_request_the_database_refuses_fails_alone(database: Database) -> None:
    bad = row("bad", code=None)  # NOT NULL violation
    outcomes = commit(database, [row("ok1")], [bad], [row("ok2")])
    assert outcomes[0] == WriteResult({("ok1", "sub_1")}, committed=True)
    assert isinstance(outcomes[1], Exception)
    assert outcomes[2] == WriteResult({("ok2", "sub_1")}, committed=True)
    assert stored(database) == [("ok1", "sub_1"), ("ok2", "sub_1")]


def test_the_writer_thread_answers_every_request(database: Database) -> None:
    writer = EventWriter(database)
    try:
        results = [writer.store([row(f"t{i}"), row(f"u{i}")]) for i in range(5)]
        again = writer.store([row("t0")])
    finally:
        writer.close()
    assert all(r.committed and len(r.new_keys) == 2 for r in results)
    assert again == WriteResult(set(), committed=False)
    assert len(stored(database)) == 10


def many(prefix: str, count: int) -> list[dict[str, Any]]:
    return [row(f"{prefix}{i}", sub=f"sub_{i % 7}") for i in range(count)]


def test_large_groups_take_the_bulk_path_with_the_same_rules(database: Database) -> None:
    """Hundreds of rows per group (COPY on PostgreSQL): all new, then one old row."""
    precise = Decimal("0.000000000000001")
    big = [*many("a", 149), row("a_precise", precise_total_amount_cents=precise)]
    first = commit(database, big, many("b", 150))
    assert [o.committed for o in first] == [True, True]
    assert len(stored(database)) == 300
    with database.engine.connect() as conn:
        back = conn.execute(select(events).where(events.c.transaction_id == "a_precise")).one()
    assert back.properties == {"value": "12.5", "region": "eu"}
    assert back.precise_total_amount_cents == precise
    assert back.timestamp == WHEN
    second = commit(database, many("c", 150), [*many("d", 149), row("a7", sub="sub_0")])
    assert second[0].committed and len(second[0].new_keys) == 150
    assert not second[1].committed
    assert len(stored(database)) == 450


def test_bulk_appends_count_new_rows_and_refuse_old_ones(database: Database) -> None:
    with database.engine.begin() as conn:
        assert event_store.append_ignoring_duplicates(conn, many("x", 250)) == 250
        assert event_store.append_ignoring_duplicates(conn, many("y", 250)) == 250
    conn = database.engine.connect()
    try:
        transaction = conn.begin()
        mixed = [*many("z", 200), *many("x", 50)]
        assert event_store.append_ignoring_duplicates(conn, mixed) < len(mixed)
        transaction.rollback()  # what the contract asks of the caller
    finally:
        conn.close()
    assert len(stored(database)) == 500


def test_a_rolled_back_first_bulk_append_leaves_the_next_working(database: Database) -> None:
    conn = database.engine.connect()
    try:
        transaction = conn.begin()
        assert event_store.append_ignoring_duplicates(conn, many("r", 250)) == 250
        transaction.rollback()
        with conn.begin():
            assert event_store.append_ignoring_duplicates(conn, many("s", 250)) == 250
    finally:
        conn.close()
    assert len(stored(database)) == 250


def test_async_waiters_are_answered_on_their_loop(database: Database) -> None:
    """Many concurrent handlers on one loop; one gives up early and the rest carry on."""
    import asyncio
    import threading

    writer = EventWriter(database)

    async def scenario() -> list[WriteResult]:
        quitter = asyncio.ensure_future(writer.store_async([row("gone")]))
        quitter.cancel()
        results = await asyncio.gather(
            *(writer.store_async([row(f"a{i}")]) for i in range(40)),
            writer.store_async([row("a0")]),
        )
        return list(results)

    # Its own thread and loop: another test's plugin (Playwright) may leave a loop running
    # in this thread.
    outcome: list[list[WriteResult]] = []
    runner = threading.Thread(target=lambda: outcome.append(asyncio.run(scenario())))
    try:
        runner.start()
        runner.join(timeout=60)
    finally:
        writer.close()
    [results] = outcome
    assert sum(r.committed for r in results) == 40
    assert results[-1] == WriteResult(set(), committed=False)  # a0 again: the first wins
    assert {tx for tx, _ in stored(database)} >= {f"a{i}" for i in range(40)}


def test_whole_second_instants_keep_their_microseconds_text(database: Database) -> None:
    commit(database, [row("fast", timestamp=WHOLE_SECOND)])
    with database.engine.begin() as conn:
        event_store.insert_new(conn, [row("orm", timestamp=WHOLE_SECOND)])
    with database.engine.connect() as conn:
        values = conn.execute(select(events.c.timestamp).order_by(events.c.transaction_id)).all()
        if database.dialect == "sqlite":
            texts = conn.exec_driver_sql("SELECT timestamp FROM events").scalars().all()
            assert texts == ["2024-01-15 12:30:45.000000"] * 2
    assert values[0] == values[1] == (WHOLE_SECOND,)
