"""Coupons and applied coupons through Lago's API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from meterly.services.common import FrozenClock
from meterly.services.credits import coupons as coupon_service

PERCENT = {
    "name": "Launch 10%",
    "code": "launch10",
    "coupon_type": "percentage",
    "percentage_rate": 10.0,
    "frequency": "recurring",
    "frequency_duration": 3,
}
FIXED = {
    "name": "Fifty off",
    "code": "fifty",
    "coupon_type": "fixed_amount",
    "amount_cents": 5000,
    "amount_currency": "EUR",
    "frequency": "once",
    "expiration": "no_expiration",
}


def create_coupon(api: Any, **fields: Any) -> Any:
    return api.post("coupons", {"coupon": fields})


def coupon_count(api: Any) -> int:
    count: int = api.get("coupons").json()["meta"]["total_count"]
    return count


def applied_count(api: Any) -> int:
    count: int = api.get("applied_coupons").json()["meta"]["total_count"]
    return count


def customer(api: Any, external_id: str = "cust", currency: str | None = "EUR") -> None:
    body: dict[str, Any] = {"external_id": external_id, "name": external_id}
    if currency:
        body["currency"] = currency
    assert api.post("customers", {"customer": body}).status_code == 200


def apply(api: Any, code: str, external_customer_id: str = "cust", **overrides: Any) -> Any:
    body = {"external_customer_id": external_customer_id, "coupon_code": code, **overrides}
    return api.post("applied_coupons", {"applied_coupon": body})


def catalogue(api: Any) -> None:
    metric = api.post(
        "billable_metrics",
        {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
    ).json()["billable_metric"]
    plan = {
        "name": "Startup",
        "code": "startup",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "charges": [
            {
                "billable_metric_id": metric["lago_id"],
                "charge_model": "standard",
                "properties": {"amount": "1"},
            }
        ],
    }
    assert api.post("plans", {"plan": plan}).status_code == 200


def errors(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_errors"
    details: dict[str, Any] = body["error_details"]
    return details


# --- coupons ---------------------------------------------------------------------------


def test_create_percentage_coupon_answers_lago_shape(api: Any) -> None:
    response = create_coupon(api, **PERCENT)
    assert response.status_code == 200, response.text
    body = response.json()["coupon"]
    assert body["percentage_rate"] == "10.0"
    assert body["coupon_type"] == "percentage"
    assert body["frequency"] == "recurring" and body["frequency_duration"] == 3
    assert body["amount_cents"] is None and body["amount_currency"] is None
    assert body["limited_plans"] is False and body["limited_billable_metrics"] is False
    assert body["plan_codes"] == [] and body["billable_metric_codes"] == []
    assert body["expiration"] == "no_expiration" and body["expiration_at"] is None
    assert body["reusable"] is True and body["terminated_at"] is None
    assert body["created_at"] == "2024-01-15T12:00:00Z"
    for key in ("lago_id", "name", "code", "created_at", "expiration"):
        assert body[key] is not None


def test_percentage_rate_as_string_is_read_exactly(api: Any) -> None:
    body = create_coupon(api, **(PERCENT | {"percentage_rate": "12.345"})).json()["coupon"]
    assert body["percentage_rate"] == "12.345"


def test_create_fixed_amount_coupon(api: Any) -> None:
    body = create_coupon(api, **FIXED).json()["coupon"]
    assert body["amount_cents"] == 5000 and body["amount_currency"] == "EUR"
    assert body["percentage_rate"] is None
    assert body["frequency"] == "once" and body["frequency_duration"] is None


def test_missing_required_fields_are_listed_and_nothing_is_created(api: Any) -> None:
    details = errors(create_coupon(api, description="nothing else"))
    assert details == {
        "name": ["value_is_mandatory"],
        "code": ["value_is_mandatory"],
        "coupon_type": ["value_is_mandatory"],
    }
    assert coupon_count(api) == 0


def test_missing_root_key_is_a_bad_request(api: Any) -> None:
    response = api.post("coupons", {"name": "x"})
    assert response.status_code == 400
    assert coupon_count(api) == 0


def test_duplicate_code_is_refused(api: Any) -> None:
    create_coupon(api, **PERCENT)
    assert errors(create_coupon(api, **PERCENT)) == {"code": ["value_already_exist"]}
    assert coupon_count(api) == 1


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"amount_cents": None}, {"amount_cents": ["value_is_mandatory"]}),
        ({"amount_cents": -1}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_currency": "XYZ"}, {"amount_currency": ["value_is_invalid"]}),
        ({"coupon_type": "gift"}, {"coupon_type": ["value_is_invalid"]}),
        ({"frequency": "sometimes"}, {"frequency": ["value_is_invalid"]}),
        ({"frequency": "recurring"}, {"frequency_duration": ["value_is_mandatory"]}),
        (
            {"frequency": "recurring", "frequency_duration": 0},
            {"frequency_duration": ["value_is_invalid"]},
        ),
        ({"expiration": "time_limit"}, {"expiration_at": ["value_is_mandatory"]}),
        (
            {"expiration": "time_limit", "expiration_at": "2024-01-01T00:00:00Z"},
            {"expiration_at": ["invalid_date"]},
        ),
    ],
)
def test_invalid_fixed_coupon_terms(
    api: Any, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert errors(create_coupon(api, **(FIXED | fields))) == expected
    assert coupon_count(api) == 0


@pytest.mark.parametrize("rate", [None, 0, 101, "ten", True])
def test_invalid_percentage_rate(api: Any, rate: Any) -> None:
    details = errors(create_coupon(api, **(PERCENT | {"percentage_rate": rate})))
    assert list(details) == ["percentage_rate"]
    assert coupon_count(api) == 0


def test_time_limited_coupon_keeps_its_expiration(api: Any) -> None:
    body = create_coupon(
        api, **(FIXED | {"expiration": "time_limit", "expiration_at": "2024-12-31T23:59:59Z"})
    ).json()["coupon"]
    assert body["expiration"] == "time_limit"
    assert body["expiration_at"] == "2024-12-31T23:59:59Z"


def test_applies_to_plans_and_metrics(api: Any) -> None:
    catalogue(api)
    plans = create_coupon(api, **(PERCENT | {"applies_to": {"plan_codes": ["startup"]}}))
    body = plans.json()["coupon"]
    assert body["limited_plans"] is True and body["plan_codes"] == ["startup"]
    metrics = create_coupon(
        api, **(FIXED | {"applies_to": {"billable_metric_codes": ["calls"]}})
    ).json()["coupon"]
    assert metrics["limited_billable_metrics"] is True
    assert metrics["billable_metric_codes"] == ["calls"]
    assert metrics["limited_plans"] is False


def test_unknown_plan_code_is_not_found_and_nothing_is_created(api: Any) -> None:
    response = create_coupon(api, **(PERCENT | {"applies_to": {"plan_codes": ["nope"]}}))
    assert response.status_code == 404
    assert response.json()["code"] == "plan_not_found"
    assert coupon_count(api) == 0


def test_unknown_metric_code_is_not_found(api: Any) -> None:
    response = create_coupon(api, **(PERCENT | {"applies_to": {"billable_metric_codes": ["nope"]}}))
    assert response.status_code == 404
    assert response.json()["code"] == "billable_metric_not_found"
    assert coupon_count(api) == 0


def test_plans_and_metrics_together_are_refused(api: Any) -> None:
    catalogue(api)
    response = create_coupon(
        api,
        **(
            PERCENT
            | {"applies_to": {"plan_codes": ["startup"], "billable_metric_codes": ["calls"]}}
        ),
    )
    assert errors(response) == {"applies_to": ["only_one_limitation_type_allowed"]}
    assert coupon_count(api) == 0


def test_get_list_and_unknown_code(api: Any) -> None:
    create_coupon(api, **PERCENT)
    create_coupon(api, **FIXED)
    listing = api.get("coupons", params={"per_page": 1}).json()
    assert listing["meta"]["total_count"] == 2 and listing["meta"]["total_pages"] == 2
    assert len(listing["coupons"]) == 1
    assert api.get("coupons/fifty").json()["coupon"]["name"] == "Fifty off"
    missing = api.get("coupons/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "coupon_not_found"


def test_update_changes_terms_of_an_unused_coupon(api: Any) -> None:
    create_coupon(api, **PERCENT)
    response = api.put(
        "coupons/launch10",
        {"coupon": {"name": "Launch 20%", "percentage_rate": "20", "code": "launch20"}},
    )
    assert response.status_code == 200, response.text
    body = response.json()["coupon"]
    assert body["name"] == "Launch 20%" and body["percentage_rate"] == "20.0"
    assert body["code"] == "launch20"
    assert api.get("coupons/launch10").status_code == 404


def test_update_keeps_terms_of_an_applied_coupon(api: Any) -> None:
    customer(api)
    create_coupon(api, **PERCENT)
    assert apply(api, "launch10").status_code == 200
    body = api.put(
        "coupons/launch10", {"coupon": {"name": "Renamed", "percentage_rate": 50}}
    ).json()["coupon"]
    assert body["name"] == "Renamed" and body["percentage_rate"] == "10.0"


def test_invalid_update_changes_nothing(api: Any) -> None:
    create_coupon(api, **FIXED)
    assert errors(api.put("coupons/fifty", {"coupon": {"amount_cents": -5}})) == {
        "amount_cents": ["value_is_invalid"]
    }
    assert api.get("coupons/fifty").json()["coupon"]["amount_cents"] == 5000


def test_delete_terminates_the_coupon_and_its_applications(api: Any) -> None:
    customer(api)
    create_coupon(api, **PERCENT)
    applied_id = apply(api, "launch10").json()["applied_coupon"]["lago_id"]
    response = api.delete("coupons/launch10")
    assert response.status_code == 200
    assert response.json()["coupon"]["terminated_at"] == "2024-01-15T12:00:00Z"
    assert api.get("coupons/launch10").status_code == 404
    (applied,) = api.get("applied_coupons").json()["applied_coupons"]
    assert applied["lago_id"] == applied_id and applied["status"] == "terminated"
    # The code is free again.
    assert create_coupon(api, **PERCENT).status_code == 200


def test_delete_unknown_coupon_is_not_found(api: Any) -> None:
    response = api.delete("coupons/nope")
    assert response.status_code == 404 and response.json()["code"] == "coupon_not_found"


def test_terminate_expired_ends_time_limited_coupons(api: Any, clock: FrozenClock) -> None:
    create_coupon(
        api, **(FIXED | {"expiration": "time_limit", "expiration_at": "2024-02-01T00:00:00Z"})
    )
    create_coupon(api, **PERCENT)
    with api.database.unit_of_work() as session:
        assert coupon_service.terminate_expired(session, clock=clock) == 0
    later = FrozenClock(datetime(2024, 2, 1, 0, 0, tzinfo=UTC))
    with api.database.unit_of_work() as session:
        assert coupon_service.terminate_expired(session, clock=later) == 1
    assert api.get("coupons/fifty").json()["coupon"]["terminated_at"] == "2024-02-01T00:00:00Z"
    assert api.get("coupons/launch10").json()["coupon"]["terminated_at"] is None


# --- applied coupons -------------------------------------------------------------------


def test_apply_coupon_answers_lago_shape(api: Any) -> None:
    customer(api)
    coupon_id = create_coupon(api, **PERCENT).json()["coupon"]["lago_id"]
    response = apply(api, "launch10")
    assert response.status_code == 200, response.text
    body = response.json()["applied_coupon"]
    assert body["lago_coupon_id"] == coupon_id
    assert body["coupon_code"] == "launch10" and body["coupon_name"] == "Launch 10%"
    assert body["external_customer_id"] == "cust" and body["status"] == "active"
    assert body["percentage_rate"] == "10.0"
    assert body["frequency_duration"] == 3 and body["frequency_duration_remaining"] == 3
    assert body["amount_cents_remaining"] is None
    for key in ("lago_id", "lago_customer_id", "created_at"):
        assert body[key]


def test_apply_with_overrides(api: Any) -> None:
    customer(api)
    create_coupon(api, **FIXED)
    body = apply(
        api, "fifty", amount_cents=1234, frequency="recurring", frequency_duration=2
    ).json()["applied_coupon"]
    assert body["amount_cents"] == 1234 and body["frequency"] == "recurring"
    assert body["frequency_duration_remaining"] == 2
    assert body["amount_cents_remaining"] is None


def test_once_fixed_coupon_shows_its_whole_amount_remaining(api: Any) -> None:
    customer(api)
    create_coupon(api, **FIXED)
    body = apply(api, "fifty").json()["applied_coupon"]
    assert body["amount_cents_remaining"] == 5000


def test_percentage_override_as_number(api: Any) -> None:
    customer(api)
    create_coupon(api, **PERCENT)
    body = apply(api, "launch10", percentage_rate=15.5).json()["applied_coupon"]
    assert body["percentage_rate"] == "15.5"


def test_unknown_coupon_is_not_found(api: Any) -> None:
    customer(api)
    response = apply(api, "nope")
    assert response.status_code == 404 and response.json()["code"] == "coupon_not_found"
    assert applied_count(api) == 0


def test_unknown_customer_is_not_found(api: Any) -> None:
    create_coupon(api, **PERCENT)
    response = apply(api, "launch10", external_customer_id="ghost")
    assert response.status_code == 404 and response.json()["code"] == "customer_not_found"
    assert applied_count(api) == 0


def test_non_reusable_coupon_applies_once_per_customer(api: Any) -> None:
    customer(api)
    customer(api, "other")
    create_coupon(api, **(PERCENT | {"reusable": False}))
    assert apply(api, "launch10").status_code == 200
    assert errors(apply(api, "launch10")) == {"coupon": ["coupon_is_not_reusable"]}
    assert applied_count(api) == 1
    assert apply(api, "launch10", external_customer_id="other").status_code == 200


def test_reusable_coupon_applies_twice(api: Any) -> None:
    customer(api)
    create_coupon(api, **PERCENT)
    assert apply(api, "launch10").status_code == 200
    assert apply(api, "launch10").status_code == 200
    assert applied_count(api) == 2


def test_fixed_coupon_in_another_currency_is_refused(api: Any) -> None:
    customer(api, currency="USD")
    create_coupon(api, **FIXED)
    assert errors(apply(api, "fifty")) == {"currency": ["currencies_does_not_match"]}
    assert applied_count(api) == 0
    assert api.get("customers/cust").json()["customer"]["currency"] == "USD"


def test_fixed_coupon_gives_its_currency_to_a_customer_without_one(api: Any) -> None:
    customer(api, currency=None)
    create_coupon(api, **FIXED)
    assert apply(api, "fifty").status_code == 200
    assert api.get("customers/cust").json()["customer"]["currency"] == "EUR"


def test_terminated_coupon_cannot_be_applied(api: Any) -> None:
    customer(api)
    create_coupon(api, **PERCENT)
    api.delete("coupons/launch10")
    response = apply(api, "launch10")
    assert response.status_code == 404 and response.json()["code"] == "coupon_not_found"
    assert applied_count(api) == 0


def test_expired_coupon_cannot_be_applied(api: Any, clock: FrozenClock) -> None:
    customer(api)
    create_coupon(
        api, **(PERCENT | {"expiration": "time_limit", "expiration_at": "2024-01-20T00:00:00Z"})
    )
    clock.advance(timedelta(days=10))
    response = apply(api, "launch10")
    assert response.status_code == 404 and response.json()["code"] == "coupon_not_found"
    assert applied_count(api) == 0


def test_invalid_override_is_refused(api: Any) -> None:
    customer(api)
    create_coupon(api, **PERCENT)
    assert errors(apply(api, "launch10", frequency="weekly")) == {"frequency": ["value_is_invalid"]}
    assert applied_count(api) == 0


def test_list_filters_by_customer_status_and_code(api: Any) -> None:
    customer(api)
    customer(api, "other")
    create_coupon(api, **PERCENT)
    create_coupon(api, **FIXED)
    first = apply(api, "launch10").json()["applied_coupon"]["lago_id"]
    apply(api, "fifty")
    apply(api, "launch10", external_customer_id="other")
    api.delete(f"customers/cust/applied_coupons/{first}")

    def ids(**params: Any) -> list[str]:
        body = api.get("applied_coupons", params=params).json()
        return [a["coupon_code"] + ":" + a["external_customer_id"] for a in body["applied_coupons"]]

    assert sorted(ids(external_customer_id="cust")) == ["fifty:cust", "launch10:cust"]
    assert ids(external_customer_id="cust", status="terminated") == ["launch10:cust"]
    assert sorted(ids(status="active")) == ["fifty:cust", "launch10:other"]
    assert sorted(ids(**{"coupon_code[]": ["launch10"]})) == ["launch10:cust", "launch10:other"]
    assert ids(external_customer_id="ghost") == []
    listing = api.get("applied_coupons").json()
    assert all(a["credits"] == [] for a in listing["applied_coupons"])


def test_customer_applied_coupons(api: Any) -> None:
    customer(api)
    customer(api, "other")
    create_coupon(api, **PERCENT)
    apply(api, "launch10")
    apply(api, "launch10", external_customer_id="other")
    body = api.get("customers/cust/applied_coupons").json()
    assert [a["external_customer_id"] for a in body["applied_coupons"]] == ["cust"]
    missing = api.get("customers/ghost/applied_coupons")
    assert missing.status_code == 404 and missing.json()["code"] == "customer_not_found"


def test_terminate_applied_coupon(api: Any) -> None:
    customer(api)
    create_coupon(api, **PERCENT)
    applied_id = apply(api, "launch10").json()["applied_coupon"]["lago_id"]
    response = api.delete(f"customers/cust/applied_coupons/{applied_id}")
    assert response.status_code == 200
    body = response.json()["applied_coupon"]
    assert body["status"] == "terminated" and body["terminated_at"] == "2024-01-15T12:00:00Z"


def test_terminate_unknown_applied_coupon_is_not_found(api: Any) -> None:
    customer(api)
    customer(api, "other")
    create_coupon(api, **PERCENT)
    applied_id = apply(api, "launch10", external_customer_id="other").json()["applied_coupon"][
        "lago_id"
    ]
    response = api.delete(f"customers/cust/applied_coupons/{applied_id}")
    assert response.status_code == 404 and response.json()["code"] == "applied_coupon_not_found"
    assert (
        api.get("applied_coupons", params={"status": "active"}).json()["meta"]["total_count"] == 1
    )
    ghost = api.delete(f"customers/ghost/applied_coupons/{applied_id}")
    assert ghost.status_code == 404 and ghost.json()["code"] == "customer_not_found"
