"""Schemathesis against the OpenAPI document: no operation answers a server error (20.12).

Every operation of /openapi.json is called with bodies and parameters generated from the
document (a bounded number of examples each, derandomized so a run is repeatable) through
the ASGI app, with a valid API key, on one SQLite database shared by the whole run. A 5xx
answer fails; 4xx answers are what bad input must get. The document itself is checked
too: every write that reads a JSON body declares it, and every path parameter is declared.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings

from meterly.api.http import json_body
from meterly.api.routes import ROUTERS
from tests.conftest import build_api

# Examples per operation: about 240 operations x 2 keeps the run near a minute here.
EXAMPLES = 2


@pytest.fixture(scope="module")
def fuzz_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from datetime import UTC, datetime

    from meterly.services.common import FrozenClock

    target = tmp_path_factory.mktemp("fuzz") / "meterly.db"
    shutil.copyfile(sqlite_template, target)
    clock = FrozenClock(datetime(2024, 1, 15, 12, 0, tzinfo=UTC))
    built: Any = build_api(f"sqlite:///{target}", clock, migrate=False)
    client, (key, _, database) = built
    with client:
        client.app.state.fuzz_key = key
        yield client.app
    database.engine.dispose()


def fuzz_operation(operation: Any, key: str, failures: list[str]) -> None:
    """Call one operation with generated cases; note each 5xx (and go on, to see them all)."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any) -> None:
        try:
            response = case.call(headers={"Authorization": f"Bearer {key}"})
        except Exception as exc:  # the test client raises what the app did not answer
            failures.append(f"{case.method} {case.formatted_path} raised {exc!r} body={case.body}")
            return
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {response.status_code} "
                f"query={case.query} body={str(case.body)[:200]}"
            )

    run()


def test_no_operation_answers_a_server_error(fuzz_app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        # An operation the document describes wrongly is an Err: `.ok()` raises, failing here.
        operation: Any = result.ok()  # type: ignore[union-attr]
        fuzz_operation(operation, fuzz_app.state.fuzz_key, failures)
        operations += 1
    assert operations > 200  # the whole API was generated for, not an empty document
    assert failures == []


def test_every_body_and_path_parameter_is_declared(fuzz_app: Any) -> None:
    document = fuzz_app.openapi()
    missing_body, missing_parameter = [], []
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            calls = {dependency.call for dependency in route.dependant.dependencies}
            if json_body not in calls:
                continue  # a route that reads no body
            for method in route.methods or ():
                operation = document["paths"]["/api/v1" + route.path][method.lower()]
                if "requestBody" not in operation:
                    missing_body.append(f"{method} {route.path}")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            for name in set(re.findall(r"{(\w+)}", path)) - declared:
                missing_parameter.append(f"{method} {path} {name}")
    assert missing_body == []
    assert missing_parameter == []


def test_errors_are_described_in_lagos_shape(fuzz_app: Any) -> None:
    document = fuzz_app.openapi()
    operation = document["paths"]["/api/v1/taxes/{code}"]["put"]
    lago_error = {"$ref": "#/components/schemas/LagoError"}
    for status in ("400", "401", "404", "422"):
        assert operation["responses"][status]["content"]["application/json"]["schema"] == lago_error
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["tax"]
    tax = document["components"]["schemas"][body["properties"]["tax"]["$ref"].rsplit("/", 1)[1]]
    assert {"name", "code", "rate"} <= set(tax["properties"])
    events = document["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]
    assert events["application/json"]["schema"]["required"] == ["event"]
