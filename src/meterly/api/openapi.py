"""The OpenAPI document at /openapi.json: every request body, parameter and error answer.

Most routes read their JSON themselves (`json_body`, then `root` and `parse`), so FastAPI
cannot see what they take. A route names its body with `openapi_extra=wire_body("tax", TaxIn)`
(Lago's root key and the request model that parses what is under it), or with
`json_object(...)` for a body that is no model (metadata, entitlements, expressions).
`install(app)` then builds the document once:

- the request models become `components/schemas` (pydantic names them, telling apart two
  models of one name);
- every operation under /api/v1 lists the error answers Lago gives, in Lago's shape
  (`LagoError`): 400 (a missing root key, unreadable JSON), 401, 404 and 422
  (`validation_errors` with `error_details`), where FastAPI would list its own 422;
- the two ingestion paths, answered before FastAPI's routing (api/ingestion.py), are
  described too.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

# Where a body names a model, before the document knows the model's schema name.
_MODEL_KEY = "x-meterly-model"
_MODELS: dict[str, type[BaseModel]] = {}
_WRITES = ("post", "put", "patch")
_API = "/api/v1/"

LAGO_ERROR: dict[str, Any] = {
    "type": "object",
    "description": "Lago's error answer.",
    "required": ["status", "error"],
    "properties": {
        "status": {"type": "integer"},
        "error": {"type": "string"},
        "code": {"type": "string"},
        "error_details": {
            "type": "object",
            "description": "Field -> error codes (422), or the missing resource (404).",
        },
    },
}
ERRORS = {
    "400": "Bad request: a missing root key or a body that is not JSON",
    "401": "Unauthorized: no API key, or an unknown one",
    "404": "Not found: `<resource>_not_found`",
    "422": "Unprocessable entity: `validation_errors` with `error_details`",
}

# Lago's event, as POST /events and /events/batch take it.
EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["transaction_id", "code"],
    "properties": {
        "transaction_id": {"type": "string"},
        "external_subscription_id": {"type": "string"},
        "external_customer_id": {"type": "string"},
        "code": {"type": "string"},
        "timestamp": {"type": ["integer", "number", "string"]},
        "precise_total_amount_cents": {"type": ["string", "number", "null"]},
        "properties": {"type": "object"},
    },
}


def _request_body(schema: dict[str, Any], *, required: bool) -> dict[str, Any]:
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": required, "content": content}}


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A placeholder for `model`'s schema, resolved when the document is built."""
    name = f"{model.__module__}.{model.__qualname__}"
    _MODELS[name] = model
    return {_MODEL_KEY: name}


def wire_body(root_key: str, model: type[BaseModel], *, many: bool = False) -> dict[str, Any]:
    """`openapi_extra` of a route taking `{root_key: <model>}` (`many`: a list of them)."""
    inner = model_schema(model)
    if many:
        inner = {"type": "array", "items": inner}
    schema = {"type": "object", "required": [root_key], "properties": {root_key: inner}}
    return _request_body(schema, required=True)


def json_object(
    properties: dict[str, Any], *, required: tuple[str, ...] = (), optional: bool = False
) -> dict[str, Any]:
    """`openapi_extra` of a route taking a JSON object that no request model describes."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return _request_body(schema, required=not optional)


def path_parameters(path: str) -> dict[str, Any]:
    """`openapi_extra` declaring the parameters of a path its endpoint reads itself."""
    names = re.findall(r"{(\w+)}", path)
    schema = {"type": "string"}
    return {
        "parameters": [{"name": n, "in": "path", "required": True, "schema": schema} for n in names]
    }


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict):
                yield path, method, operation


def _resolve(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        if _MODEL_KEY in node:
            return {"$ref": refs[node[_MODEL_KEY]]}
        return {key: _resolve(value, refs) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value, refs) for value in node]
    return node


def _error_responses(method: str) -> dict[str, Any]:
    codes = ERRORS if method in _WRITES else {k: v for k, v in ERRORS.items() if k != "400"}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/LagoError"}}}
    return {code: {"description": text, "content": error} for code, text in codes.items()}


def _ingestion_paths() -> dict[str, Any]:
    def operation(summary: str, schema: dict[str, Any], operation_id: str) -> dict[str, Any]:
        return {
            "tags": ["events"],
            "summary": summary,
            "operationId": operation_id,
            **_request_body(schema, required=True),
            "responses": {
                "200": {"description": "The events, stored (answered once durable)"},
                **_error_responses("post"),
                "503": {"description": "The event store is unavailable: retry"},
            },
        }

    single = {"type": "object", "required": ["event"], "properties": {"event": EVENT}}
    batch = {
        "type": "object",
        "required": ["events"],
        "properties": {"events": {"type": "array", "items": EVENT, "maxItems": 100}},
    }
    return {
        "/api/v1/events": {"post": operation("Send an event", single, "create_event")},
        "/api/v1/events/batch": {
            "post": operation("Send a batch of events", batch, "create_events_batch")
        },
    }


def build(app: FastAPI) -> dict[str, Any]:
    document = copy.deepcopy(get_openapi(title=app.title, version=app.version, routes=app.routes))
    components = document.setdefault("components", {}).setdefault("schemas", {})
    names = sorted(_MODELS)
    key_map, definitions = models_json_schema(
        [(_MODELS[name], "validation") for name in names],
        ref_template="#/components/schemas/{model}",
    )
    refs = {name: key_map[(_MODELS[name], "validation")]["$ref"] for name in names}
    components.update(definitions.get("$defs", {}))
    components["LagoError"] = LAGO_ERROR
    for path, item in _ingestion_paths().items():
        document["paths"].setdefault(path, {}).update(item)
    for path, method, operation in _operations(document):
        if "requestBody" in operation:
            operation["requestBody"] = _resolve(operation["requestBody"], refs)
        if path.startswith(_API):
            responses = operation.setdefault("responses", {})
            responses.update(_error_responses(method))
    # FastAPI's own 422 shape is never answered (api/errors.py answers Lago's): drop it
    # unless a path outside the API still names it.
    if "schemas/HTTPValidationError" not in json.dumps(document["paths"]):
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
    return document


def install(app: FastAPI) -> None:
    """Serve `build(app)` as the app's document (built on first request, then kept)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# Bodies that several routes take and no request model describes.
_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}
METADATA = json_object(
    {"metadata": {"type": "object", "additionalProperties": {"type": ["string", "null"]}}},
    required=("metadata",),
)
EVENT_BODY = json_object({"event": EVENT}, required=("event",))
EVENTS_BODY = json_object(
    {"events": {"type": "array", "items": EVENT, "minItems": 1, "maxItems": 100}},
    required=("events",),
)
# POST /events/{transaction_id}/amend (Meterly): the event's new properties and timestamp.
EVENT_AMENDMENT = json_object(
    {
        "event": {
            "type": "object",
            "properties": {
                "properties": {"type": "object"},
                "timestamp": {"type": ["integer", "number", "string"]},
            },
        }
    },
    required=("event",),
)
RECIPIENTS = json_object({"to": _STRINGS, "cc": _STRINGS, "bcc": _STRINGS}, optional=True)
ENTITLEMENTS = json_object(
    {"entitlements": {"type": "object", "description": "feature code -> privilege values"}},
    required=("entitlements",),
)


def one_or_many(root_key: str, plural: str, model: type[BaseModel]) -> dict[str, Any]:
    """`{root_key: <model>}` or `{plural: [<model>, ...]}` (alerts are created either way)."""
    item = model_schema(model)
    properties = {root_key: item, plural: {"type": "array", "items": item}}
    return json_object(properties)


# Bodies of one route each, read field by field by the route (no request model).
_DATE_TIME = {"type": "string", "format": "date-time"}
PREVIEW = json_object(
    {
        "customer": {"type": "object", "properties": {"external_id": _STRING}},
        "plan_code": _STRING,
        "billing_time": {"type": "string", "enum": ["calendar", "anniversary"]},
        "subscription_at": _DATE_TIME,
        "coupons": {"type": "array", "items": {"type": "object"}},
        "subscriptions": {
            "type": "object",
            "properties": {"external_ids": _STRINGS, "plan_code": _STRING},
        },
    },
    required=("customer",),
)
VOID_OPTIONS = json_object(
    {
        "generate_credit_note": {"type": "boolean"},
        "refund_amount": {"type": "integer", "minimum": 0},
        "credit_amount": {"type": "integer", "minimum": 0},
    },
    optional=True,
)
LIFETIME_USAGE = json_object(
    {
        "lifetime_usage": {
            "type": "object",
            "properties": {"external_historical_usage_amount_cents": {"type": "integer"}},
        }
    },
    required=("lifetime_usage",),
)
BILLING_ENTITY = json_object(
    {
        "billing_entity": {
            "type": "object",
            "properties": dict.fromkeys(
                (
                    "code",
                    "name",
                    "default_currency",
                    "document_numbering",
                    "document_number_prefix",
                ),
                _STRING,
            )
            | {
                "finalize_zero_amount_invoice": {"type": "boolean"},
                "email_settings": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "enum": [
                            "invoice.finalized",
                            "credit_note.created",
                            "payment_receipt.created",
                        ],
                    },
                },
            },
        }
    },
    required=("billing_entity",),
)
