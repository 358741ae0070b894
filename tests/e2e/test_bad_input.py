"""Hostile input over HTTP, on both backends, per field family (api/limits.py).

Each test checks the answer (Lago's error body, never a 500) and that nothing was stored.
The bounds, as api/limits.py documents them: money |x| < 10^15 with at most 15 fractional
digits; `net_payment_term` and `invoice_grace_period` 0..365; instants in years
1970..9999 (UTC); identifiers and names 255 characters, other text 10,000; nesting 32
levels; bodies 1 MiB (events 4 MiB); `page` at most 1,000,000, `per_page` capped at 1,000.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.conftest import ApiClient

THIRTY_DIGITS = "1" * 30


def details(response: Any) -> Any:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["status"] == 422
    assert body["error"] == "Unprocessable Entity"
    assert body["code"] == "validation_errors"
    return body["error_details"]


def total(api: ApiClient, plural: str) -> int:
    response = api.get(plural)
    assert response.status_code == 200, response.text  # a stored bad row would 500 here
    count: int = response.json()["meta"]["total_count"]
    return count


def customer(api: ApiClient, **fields: Any) -> Any:
    body = {"external_id": "cust_1", "name": "Acme", **fields}
    return api.post("customers", {"customer": body})


def metric(api: ApiClient) -> str:
    body = {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}
    response = api.post("billable_metrics", {"billable_metric": body})
    assert response.status_code == 200, response.text
    lago_id: str = response.json()["billable_metric"]["lago_id"]
    return lago_id


def plan(api: ApiClient, **fields: Any) -> Any:
    body = {
        "name": "Startup",
        "code": "startup",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "USD",
        **fields,
    }
    return api.post("plans", {"plan": body})


def charge(metric_id: str, model: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"billable_metric_id": metric_id, "charge_model": model, "properties": properties}


# --- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [
        THIRTY_DIGITS,  # 10^29 > 10^15
        "1000000000000000",  # exactly 10^15: the bound is strict
        "0.1234567890123456",  # 16 fractional digits, Lago keeps 15
        "1e400",
        "NaN",
        "Infinity",
        "-Infinity",
    ],
)
def test_a_charge_amount_out_of_range_is_refused_and_no_plan_is_stored(
    api: ApiClient, amount: str
) -> None:
    metric_id = metric(api)
    response = plan(api, charges=[charge(metric_id, "standard", {"amount": amount})])
    assert details(response) == {"charges.0.properties.amount": ["value_is_out_of_range"]}
    assert total(api, "plans") == 0


def test_the_largest_money_lago_stores_is_accepted(api: ApiClient) -> None:
    metric_id = metric(api)
    # 10^15 - 10^-15: fifteen nines, a point, fifteen nines; and zeros past the fifteenth
    # fractional digit change no value, so they pass too.
    charges = [
        charge(metric_id, "standard", {"amount": "999999999999999.999999999999999"}),
        charge(metric_id, "standard", {"amount": "0.50000000000000000000"}),
    ]
    response = plan(api, charges=charges)
    assert response.status_code == 200, response.text
    assert total(api, "plans") == 1


def test_a_percentage_rate_of_1e400_is_refused(api: ApiClient) -> None:
    metric_id = metric(api)
    response = plan(api, charges=[charge(metric_id, "percentage", {"rate": "1e400"})])
    assert details(response) == {"charges.0.properties.rate": ["value_is_out_of_range"]}
    assert total(api, "plans") == 0


def test_a_json_number_beyond_a_double_is_refused(api: ApiClient) -> None:
    raw = b'{"plan": {"name": "P", "code": "p", "interval": "monthly", "amount_cents": 1e400}}'
    response = api.client.post(
        "/api/v1/plans", content=raw, headers={**api.headers, "Content-Type": "application/json"}
    )
    assert details(response) == {"base": ["value_is_out_of_range"]}
    assert total(api, "plans") == 0


def test_a_30_digit_plan_amount_cents_is_refused(api: ApiClient) -> None:
    assert details(plan(api, amount_cents=int(THIRTY_DIGITS))) == {
        "amount_cents": ["value_is_out_of_range"]
    }
    assert total(api, "plans") == 0


def test_30_digit_wallet_credits_are_refused_and_no_wallet_is_stored(api: ApiClient) -> None:
    assert customer(api).status_code == 200
    body = {
        "external_customer_id": "cust_1",
        "rate_amount": "1",
        "currency": "USD",
        "paid_credits": THIRTY_DIGITS,
        "granted_credits": "1" + "0" * 20,
    }
    assert details(api.post("wallets", {"wallet": body})) == {
        "paid_credits": ["value_is_out_of_range"],
        "granted_credits": ["value_is_out_of_range"],
    }
    listed = api.get("wallets", params={"external_customer_id": "cust_1"})
    assert listed.status_code == 200 and listed.json()["wallets"] == []


def test_a_30_digit_precise_total_amount_is_refused_and_no_event_is_stored(
    api: ApiClient,
) -> None:
    event = {
        "transaction_id": "tx_1",
        "external_subscription_id": "sub_1",
        "code": "calls",
        "precise_total_amount_cents": THIRTY_DIGITS,
    }
    response = api.post("events", {"event": event})
    assert details(response) == {"precise_total_amount_cents": ["value_is_out_of_range"]}
    # In a batch, the details name the event by its index, as Lago's batch errors do.
    batch = [{**event, "transaction_id": "tx_2", "precise_total_amount_cents": "12.5"}, event]
    response = api.post("events/batch", {"events": batch})
    assert details(response) == {"1": {"precise_total_amount_cents": ["value_is_out_of_range"]}}
    assert total(api, "events") == 0
    assert api.get("events/tx_1").status_code == 404


# --- integers, pages, filters --------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"net_payment_term": 2**31},
        {"net_payment_term": 366},
        {"billing_configuration": {"invoice_grace_period": 2**31}},
        {"billing_configuration": {"invoice_grace_period": 366}},
    ],
)
def test_day_counts_past_a_year_are_refused(api: ApiClient, fields: dict[str, Any]) -> None:
    field = "net_payment_term" if "net_payment_term" in fields else "billing_configuration"
    found = details(customer(api, **fields))
    assert list(found.values()) == [["value_is_out_of_range"]]
    assert next(iter(found)).startswith(field)
    assert total(api, "customers") == 0


def test_a_year_of_days_is_accepted(api: ApiClient) -> None:
    response = customer(
        api, net_payment_term=365, billing_configuration={"invoice_grace_period": 365}
    )
    assert response.status_code == 200, response.text
    body = response.json()["customer"]
    assert body["net_payment_term"] == 365
    assert body["billing_configuration"]["invoice_grace_period"] == 365


def test_huge_pages_are_refused_and_per_page_is_capped(api: ApiClient) -> None:
    assert details(api.get("customers", params={"page": THIRTY_DIGITS})) == {
        "page": ["value_is_out_of_range"]
    }
    assert details(api.get("customers", params={"page": "1000001"})) == {
        "page": ["value_is_out_of_range"]
    }
    # Below 1 reads as the first page (Lago's pagination does the same).
    assert api.get("customers", params={"page": "0"}).status_code == 200
    assert api.get("customers", params={"page": "1000000"}).status_code == 200
    assert details(api.get("customers", params={"page": "1.5"})) == {"page": ["value_is_invalid"]}
    assert customer(api).status_code == 200
    listed = api.get("customers", params={"per_page": THIRTY_DIGITS})
    assert listed.status_code == 200
    # One customer, pages of at most 1,000: one page.
    assert listed.json()["meta"]["total_pages"] == 1


def test_amount_filters_out_of_range_are_refused(api: ApiClient) -> None:
    for name in ("amount_from", "amount_to"):
        assert details(api.get("invoices", params={name: THIRTY_DIGITS})) == {
            name: ["value_is_out_of_range"]
        }
    assert api.get("invoices", params={"amount_from": "0", "amount_to": "100"}).status_code == 200


# --- instants ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [
        "9999-12-31T23:59:59-14:00",  # 10000-01-01T13:59:59Z in UTC
        "1969-12-31T23:59:59Z",
        "0001-01-01",
    ],
)
def test_instants_outside_1970_to_9999_are_refused(api: ApiClient, moment: str) -> None:
    assert customer(api).status_code == 200
    assert plan(api).status_code == 200
    body = {
        "external_customer_id": "cust_1",
        "plan_code": "startup",
        "external_id": "sub_1",
        "subscription_at": moment,
    }
    response = api.post("subscriptions", {"subscription": body})
    assert details(response) == {"subscription_at": ["value_is_out_of_range"]}
    assert (
        api.get("subscriptions", params={"external_customer_id": "cust_1"}).json()["subscriptions"]
        == []
    )
    assert details(api.get("invoices", params={"issuing_date_from": moment})) == {
        "issuing_date_from": ["value_is_out_of_range"]
    }


# --- strings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"external_id": "x" * 256}, "external_id", "value_is_too_long"),
        ({"name": "n" * 256}, "name", "value_is_too_long"),
        ({"name": "Ac\x00me"}, "name", "value_is_invalid"),
        ({"name": "Ac\nme"}, "name", "value_is_invalid"),
        ({"external_id": "cust\t1"}, "external_id", "value_is_invalid"),
        ({"external_id": "cust\x001"}, "external_id", "value_is_invalid"),
        ({"url": "https://x.example/" + "p" * 2048}, "url", "value_is_too_long"),
        ({"address_line1": "\x07bell"}, "address_line1", "value_is_invalid"),
        # An id with `/` could be created and never fetched: refused at creation.
        ({"external_id": "team/acme"}, "external_id", "value_is_invalid"),
    ],
)
def test_bad_strings_are_refused_and_no_customer_is_stored(
    api: ApiClient, fields: dict[str, Any], field: str, code: str
) -> None:
    assert details(customer(api, **fields)) == {field: [code]}
    assert total(api, "customers") == 0


def test_strings_at_their_limits_are_accepted(api: ApiClient) -> None:
    response = customer(api, external_id="x" * 255, name="n" * 255)
    assert response.status_code == 200, response.text
    fetched = api.get(f"customers/{'x' * 255}")
    assert fetched.status_code == 200 and fetched.json()["customer"]["name"] == "n" * 255


def test_free_text_takes_newlines_but_not_nul_or_more_than_10000_characters(
    api: ApiClient,
) -> None:
    body = {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}
    for description, expected in (
        ("line one\nline two\ttabbed", 200),
        ("a\x00b", 422),
        ("d" * 10_001, 422),
    ):
        response = api.post(
            "billable_metrics", {"billable_metric": {**body, "description": description}}
        )
        assert response.status_code == expected, response.text
    assert total(api, "billable_metrics") == 1


def test_a_subscription_may_not_create_a_customer_whose_id_has_a_slash(api: ApiClient) -> None:
    assert plan(api).status_code == 200
    body = {"external_customer_id": "team/acme", "plan_code": "startup", "external_id": "s"}
    assert details(api.post("subscriptions", {"subscription": body})) == {
        "external_customer_id": ["value_is_invalid"]
    }
    assert total(api, "customers") == 0


def test_nul_in_an_event_property_or_key_is_refused_and_nothing_is_stored(
    api: ApiClient,
) -> None:
    event = {"transaction_id": "tx_1", "external_subscription_id": "sub_1", "code": "calls"}
    response = api.post("events", {"event": {**event, "properties": {"region": "e\x00u"}}})
    assert details(response) == {"properties.region": ["value_is_invalid"]}
    response = api.post("events", {"event": {**event, "properties": {"re\x00gion": "eu"}}})
    assert details(response) == {"properties.re\x00gion": ["key_is_invalid"]}
    response = api.post("events", {"event": {**event, "transaction_id": "t" * 256}})
    assert details(response) == {"transaction_id": ["value_is_too_long"]}
    assert total(api, "events") == 0


def test_control_characters_in_the_url_are_not_found_or_refused(api: ApiClient) -> None:
    missing = api.get("customers/a%00b")
    assert missing.status_code == 404
    assert missing.json() == {"status": 404, "error": "Not Found", "code": "resource_not_found"}
    assert details(api.get("invoices", params={"search_term": "a\x00b"})) == {
        "search_term": ["value_is_invalid"]
    }


# --- bodies, nesting, content type ---------------------------------------------------------


def raw_post(api: ApiClient, path: str, raw: bytes, content_type: str | None) -> Any:
    headers = dict(api.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return api.client.post(f"/api/v1/{path}", content=raw, headers=headers)


def test_a_body_over_one_mebibyte_is_413_and_stores_nothing(api: ApiClient) -> None:
    # 2 MiB of name, in valid JSON: refused on its size before it is parsed.
    raw = orjson.dumps({"customer": {"external_id": "c", "name": "n" * (2 * 1024 * 1024)}})
    response = raw_post(api, "customers", raw, "application/json")
    assert response.status_code == 413
    assert response.json() == {
        "status": 413,
        "error": "Payload Too Large",
        "code": "payload_too_large",
    }
    assert total(api, "customers") == 0


def test_an_events_batch_may_be_larger_than_other_bodies_up_to_its_own_limit(
    api: ApiClient,
) -> None:
    # 100 events with two 9,000-character properties each: about 1.8 MB, under 4 MiB.
    events = [
        {
            "transaction_id": f"tx_{i}",
            "external_subscription_id": "sub_1",
            "code": "calls",
            "properties": {"a": "x" * 9000, "b": "y" * 9000},
        }
        for i in range(100)
    ]
    raw = orjson.dumps({"events": events})
    assert 1024 * 1024 < len(raw) < 4 * 1024 * 1024
    assert raw_post(api, "events/batch", raw, "application/json").status_code == 200
    assert total(api, "events") == 100
    # 5 MiB is over the events limit too.
    huge = orjson.dumps({"events": [{**events[0], "properties": {"a": "x" * (5 << 20)}}]})
    response = raw_post(api, "events/batch", huge, "application/json")
    assert response.status_code == 413
    assert total(api, "events") == 100


@pytest.mark.parametrize("depth", [33, 1000, 2000])
def test_json_nested_too_deep_is_422_and_stores_nothing(api: ApiClient, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    raw = f'{{"customer": {{"external_id": "c", "name": "n", "metadata": {nested}}}}}'.encode()
    found = details(raw_post(api, "customers", raw, "application/json"))
    assert list(found.values()) == [["value_is_too_deep"]]
    assert total(api, "customers") == 0


def test_32_levels_of_nesting_are_accepted(api: ApiClient) -> None:
    # The body object is level 1, "event" 2, "properties" 3: 29 more levels reach 32.
    inner: Any = "deep"
    for _ in range(29):
        inner = {"k": inner}
    event = {"transaction_id": "tx", "external_subscription_id": "s", "code": "c"}
    response = api.post("events", {"event": {**event, "properties": inner}})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
def test_a_json_body_not_sent_as_json_is_415_and_stores_nothing(
    api: ApiClient, content_type: str | None
) -> None:
    raw = orjson.dumps({"customer": {"external_id": "c", "name": "n"}})
    response = raw_post(api, "customers", raw, content_type)
    assert response.status_code == 415
    assert response.json() == {
        "status": 415,
        "error": "Unsupported Media Type",
        "code": "unsupported_media_type",
    }
    event = orjson.dumps({"event": {"transaction_id": "t", "external_subscription_id": "s"}})
    assert raw_post(api, "events", event, content_type).status_code == 415
    assert total(api, "customers") == 0
    assert total(api, "events") == 0


def test_json_with_a_charset_is_json(api: ApiClient) -> None:
    raw = orjson.dumps({"customer": {"external_id": "c", "name": "n"}})
    response = raw_post(api, "customers", raw, "application/json; charset=utf-8")
    assert response.status_code == 200, response.text
    assert total(api, "customers") == 1


def test_dashboard_forms_are_bounded_like_the_api(api: ApiClient) -> None:
    from meterly.web import install_web

    install_web(api.client.app)
    login = "/dashboard/login"
    huge = api.client.post(login, data={"api_key": "k" * (2 * 1024 * 1024)})
    assert huge.status_code == 413
    nul = api.client.post(login, data={"api_key": "mtr_\x00"}, follow_redirects=False)
    assert nul.status_code == 422
    assert nul.json()["error_details"] == {"api_key": ["value_is_invalid"]}
    assert "meterly_session" not in nul.cookies
    # A form is not JSON, and is not held to the API's content type.
    wrong = api.client.post(login, data={"api_key": "mtr_wrong"})
    assert wrong.status_code == 401


# --- no hostile value answers 500 or poisons a later read ----------------------------------

HOSTILE: list[Any] = [
    "\x00",
    "x" * 300,
    10**30,
    -(10**30),
    "1" * 30,
    "1e400",
    "NaN",
    "9999-12-31T23:59:59-14:00",
    2**63,
    {"a": {"b": {"c": "\x00"}}},
]
RESOURCES: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "customer": (
        "customers",
        {"external_id": "c1", "name": "C"},
        ["external_id", "name", "net_payment_term", "currency", "timezone", "email"],
    ),
    "billable_metric": (
        "billable_metrics",
        {"name": "M", "code": "m1", "aggregation_type": "sum_agg", "field_name": "v"},
        ["code", "name", "field_name", "description", "rounding_precision"],
    ),
    "add_on": (
        "add_ons",
        {"name": "A", "code": "a1", "amount_cents": 100, "amount_currency": "USD"},
        ["code", "amount_cents", "amount_currency", "invoice_display_name"],
    ),
    "tax": ("taxes", {"name": "T", "code": "t1", "rate": "20"}, ["code", "rate", "name"]),
    "coupon": (
        "coupons",
        {
            "name": "K",
            "code": "k1",
            "coupon_type": "fixed_amount",
            "amount_cents": 100,
            "amount_currency": "USD",
            "frequency": "recurring",
            "frequency_duration": 3,
            "expiration": "no_expiration",
        },
        ["amount_cents", "frequency_duration", "expiration_at", "percentage_rate"],
    ),
    "plan": (
        "plans",
        {
            "name": "P",
            "code": "p1",
            "interval": "monthly",
            "amount_cents": 1,
            "amount_currency": "USD",
        },
        ["amount_cents", "trial_period", "code", "interval"],
    ),
    "webhook_endpoint": (
        "webhook_endpoints",
        {"webhook_url": "https://hooks.example/x", "signature_algo": "hmac"},
        ["webhook_url", "signature_algo"],
    ),
}


@pytest.mark.parametrize("root", sorted(RESOURCES))
def test_no_hostile_value_answers_500_or_breaks_the_list(api: ApiClient, root: str) -> None:
    plural, base, fields = RESOURCES[root]
    for field in fields:
        for value in HOSTILE:
            response = api.post(plural, {root: {**base, field: value}})
            assert response.status_code < 500, (field, value, response.text)
            if response.status_code == 200:
                lago_id = response.json()[root].get("lago_id")
                assert api.get(plural).status_code == 200, (field, value)
                # Start clean for the next value (codes and ids are unique).
                key = base.get("code") or base.get("external_id") or lago_id
                api.delete(f"{plural}/{key}")
            assert api.get(plural).status_code == 200, (field, value)


def test_no_hostile_event_answers_500_or_breaks_the_events_list(api: ApiClient) -> None:
    base = {"transaction_id": "tx", "external_subscription_id": "s", "code": "c"}
    for field in ("transaction_id", "external_subscription_id", "code", "timestamp"):
        for index, value in enumerate(HOSTILE):
            event = {**base, "transaction_id": f"tx_{field}_{index}", field: value}
            response = api.post("events", {"event": event})
            assert response.status_code < 500, (field, value, response.text)
    assert api.get("events").status_code == 200
