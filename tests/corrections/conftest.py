"""`sqlite_api`: the API on one SQLite database, for properties that run many examples."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meterly.services.common import FrozenClock
from tests.conftest import ApiClient, build_api


@pytest.fixture
def sqlite_api(migrated_sqlite_url: str, clock: FrozenClock) -> Iterator[ApiClient]:
    client, (secret, org_id, database) = build_api(migrated_sqlite_url, clock, migrate=False)  # type: ignore[misc]
    with client:  # type: ignore[attr-defined]
        yield ApiClient(client, secret, org_id, database)
    database.engine.dispose()  # type: ignore[attr-defined]
