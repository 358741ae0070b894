"""Features, plan and subscription entitlements, and the access check, through HTTP on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from meterly.store.tables import Webhook

SEATS = {
    "code": "seats",
    "name": "Seats",
    "description": "Users of the account",
    "privileges": [
        {"code": "max", "name": "Maximum", "value_type": "integer"},
        {"code": "root", "value_type": "boolean"},
        {
            "code": "provider",
            "value_type": "select",
            "config": {"select_options": ["google", "okta"]},
        },
    ],
}


def patch(api: Any, path: str, body: object) -> Any:
    return api.client.patch(f"/api/v1/{path}", json=body, headers=api.headers)


def create_feature(api: Any, body: dict[str, Any] = SEATS) -> dict[str, Any]:
    answer = api.post("features", {"feature": body})
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["feature"])


def plan_and_subscription(api: Any, *, charges: list[dict[str, Any]] | None = None) -> None:
    plan = api.post(
        "plans",
        {
            "plan": {
                "name": "Startup",
                "code": "startup",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "EUR",
                "charges": charges or [],
            }
        },
    )
    assert plan.status_code == 200, plan.text
    api.post("customers", {"customer": {"external_id": "c", "name": "C", "currency": "EUR"}})
    sub = api.post(
        "subscriptions",
        {"subscription": {"external_customer_id": "c", "plan_code": "startup", "external_id": "s"}},
    )
    assert sub.status_code == 200, sub.text


def test_feature_crud_and_privileges(api: Any) -> None:
    created = create_feature(api)
    assert created["code"] == "seats"
    assert [p["code"] for p in created["privileges"]] == ["max", "root", "provider"]
    assert created["privileges"][2]["config"] == {"select_options": ["google", "okta"]}
    # Lago's default value type is string.
    listed = api.get("features", params={"search_term": "user"}).json()
    assert [f["code"] for f in listed["features"]] == ["seats"]
    assert listed["meta"]["total_count"] == 1
    assert api.get("features", params={"search_term": "nothing"}).json()["features"] == []

    updated = api.put(
        "features/seats",
        {"feature": {"name": "Users", "privileges": [{"code": "label"}]}},
    ).json()["feature"]
    assert updated["name"] == "Users"
    assert [(p["code"], p["value_type"]) for p in updated["privileges"]] == [
        ("max", "integer"),
        ("root", "boolean"),
        ("provider", "select"),
        ("label", "string"),
    ]
    dropped = api.delete("features/seats/privileges/label").json()["feature"]
    assert [p["code"] for p in dropped["privileges"]] == ["max", "root", "provider"]
    assert api.delete("features/seats").status_code == 200
    gone = api.get("features/seats")
    assert gone.status_code == 404 and gone.json()["code"] == "feature_not_found"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"name": "no code"}, "code", "value_is_mandatory"),
        (
            {"code": "x", "privileges": [{"code": "p", "value_type": "float"}]},
            "privileges.0.value_type",
            "value_is_invalid",
        ),
        (
            {"code": "x", "privileges": [{"code": "p", "value_type": "select"}]},
            "privileges.0.config.select_options",
            "value_is_mandatory",
        ),
        (
            {"code": "x", "privileges": [{"code": "p"}, {"code": "p"}]},
            "privileges.1.code",
            "value_already_exist",
        ),
        ({"code": "x", "description": "d" * 601}, "description", "value_is_too_long"),
    ],
)
def test_bad_features_are_refused_and_change_nothing(
    api: Any, body: dict[str, Any], field: str, code: str
) -> None:
    answer = api.post("features", {"feature": body})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error_details"] == {field: [code]}
    assert api.get("features").json()["meta"]["total_count"] == 0


def test_duplicate_feature_code_is_422(api: Any) -> None:
    create_feature(api)
    again = api.post("features", {"feature": SEATS})
    assert again.status_code == 422
    assert again.json()["error_details"] == {"code": ["value_already_exist"]}


def test_plan_entitlements_post_replaces_and_patch_merges(api: Any) -> None:
    create_feature(api)
    create_feature(
        api, {"code": "sso", "privileges": [{"code": "enabled", "value_type": "boolean"}]}
    )
    plan_and_subscription(api)
    posted = api.post(
        "plans/startup/entitlements",
        {"entitlements": {"seats": {"max": 10, "root": True}, "sso": {"enabled": True}}},
    )
    assert posted.status_code == 200, posted.text
    by_code = {e["code"]: e for e in posted.json()["entitlements"]}
    assert [(p["code"], p["value"]) for p in by_code["seats"]["privileges"]] == [
        ("max", 10),
        ("root", True),
    ]

    patched = patch(
        api, "plans/startup/entitlements", {"entitlements": {"seats": {"max": 20}}}
    ).json()
    seats = next(e for e in patched["entitlements"] if e["code"] == "seats")
    # PATCH changes `max` and keeps `root`; `sso` stays.
    assert [(p["code"], p["value"]) for p in seats["privileges"]] == [("max", 20), ("root", True)]
    assert {e["code"] for e in patched["entitlements"]} == {"seats", "sso"}

    # POST replaces: only seats/max remains.
    replaced = api.post(
        "plans/startup/entitlements", {"entitlements": {"seats": {"max": 5}}}
    ).json()
    assert [
        (e["code"], [p["value"] for p in e["privileges"]]) for e in replaced["entitlements"]
    ] == [("seats", [5])]
    one = api.get("plans/startup/entitlements/seats").json()["entitlement"]
    assert one["privileges"][0]["value"] == 5
    assert (
        api.delete("plans/startup/entitlements/seats/privileges/max").json()["entitlement"][
            "privileges"
        ]
        == []
    )
    assert api.delete("plans/startup/entitlements/seats").status_code == 200
    assert api.get("plans/startup/entitlements").json() == {"entitlements": []}


def test_bad_entitlements_are_refused_and_change_nothing(api: Any) -> None:
    create_feature(api)
    plan_and_subscription(api)
    api.post("plans/startup/entitlements", {"entitlements": {"seats": {"max": 10}}})
    for body, status, code in (
        ({"entitlements": {"seats": {"max": "ten"}}}, 422, "validation_errors"),
        ({"entitlements": {"seats": {"provider": "azure"}}}, 422, "validation_errors"),
        ({"entitlements": {"seats": {"nope": 1}}}, 404, "privilege_not_found"),
        ({"entitlements": {"ghost": {}}}, 404, "feature_not_found"),
        ({"entitlement": {}}, 400, None),
    ):
        answer = api.post("plans/startup/entitlements", body)
        assert answer.status_code == status, answer.text
        if code:
            assert answer.json()["code"] == code
    listed = api.get("plans/startup/entitlements").json()["entitlements"]
    assert [(p["code"], p["value"]) for p in listed[0]["privileges"]] == [("max", 10)]
    assert api.get("plans/nope/entitlements").status_code == 404


def test_subscription_overrides_resolve_over_the_plan(api: Any) -> None:
    create_feature(api)
    create_feature(
        api, {"code": "sso", "privileges": [{"code": "enabled", "value_type": "boolean"}]}
    )
    plan_and_subscription(api)
    api.post(
        "plans/startup/entitlements", {"entitlements": {"seats": {"max": 10, "provider": "google"}}}
    )
    answer = patch(
        api,
        "subscriptions/s/entitlements",
        {"entitlements": {"seats": {"max": 15}, "sso": {"enabled": True}}},
    )
    assert answer.status_code == 200, answer.text
    by_code = {e["code"]: e for e in answer.json()["entitlements"]}
    seats = {p["code"]: p for p in by_code["seats"]["privileges"]}
    assert (seats["max"]["value"], seats["max"]["plan_value"], seats["max"]["override_value"]) == (
        15,
        10,
        15,
    )
    assert (seats["provider"]["value"], seats["provider"]["override_value"]) == ("google", None)
    assert by_code["seats"]["overrides"] == {"max": 15}
    assert by_code["sso"]["privileges"][0]["value"] is True  # the subscription's own feature

    # Dropping the override brings the plan's 10 back.
    dropped = api.delete("subscriptions/s/entitlements/seats/privileges/max").json()["entitlement"]
    assert {p["code"]: p["value"] for p in dropped["privileges"]}["max"] == 10
    # Removing a plan's feature from the subscription leaves the plan as it was.
    assert api.delete("subscriptions/s/entitlements/seats").status_code == 200
    codes = [e["code"] for e in api.get("subscriptions/s/entitlements").json()["entitlements"]]
    assert codes == ["sso"]
    assert len(api.get("plans/startup/entitlements").json()["entitlements"]) == 1
    assert (
        api.delete("subscriptions/s/entitlements/seats").json()["code"] == "entitlement_not_found"
    )


def test_deleting_a_feature_takes_it_from_plans_and_subscriptions(api: Any) -> None:
    create_feature(api)
    plan_and_subscription(api)
    api.post("plans/startup/entitlements", {"entitlements": {"seats": {"max": 10}}})
    patch(api, "subscriptions/s/entitlements", {"entitlements": {"seats": {"root": True}}})
    api.delete("features/seats")
    assert api.get("plans/startup/entitlements").json() == {"entitlements": []}
    assert api.get("subscriptions/s/entitlements").json() == {"entitlements": []}


def test_feature_webhooks_are_queued(api: Any) -> None:
    api.post(
        "webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://hooks.example.com/l"}}
    )
    create_feature(api)
    api.put("features/seats", {"feature": {"name": "Users"}})
    api.delete("features/seats")
    with api.database.unit_of_work() as session:
        kinds = list(
            session.scalars(select(Webhook.webhook_type).order_by(Webhook.created_at, Webhook.id))
        )
        assert session.scalar(select(func.count()).select_from(Webhook)) == 3
    assert sorted(kinds) == ["feature.created", "feature.deleted", "feature.updated"]


# --- the access check --------------------------------------------------------------------


def test_access_check_combines_entitlement_usage_limit_and_balance(api: Any) -> None:
    api.client.app.state.clock.set(datetime(2024, 1, 15, 12, tzinfo=UTC))
    metric = api.post(
        "billable_metrics",
        {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
    ).json()["billable_metric"]
    create_feature(
        api,
        {
            "code": "api",
            "privileges": [
                {
                    "code": "calls",
                    "value_type": "integer",
                    "config": {"billable_metric_code": "calls"},
                },
                {"code": "enabled", "value_type": "boolean"},
            ],
        },
    )
    create_feature(api, {"code": "export"})
    plan_and_subscription(
        api,
        charges=[
            {
                "billable_metric_id": metric["lago_id"],
                "charge_model": "standard",
                "properties": {"amount": "0.01"},
            }
        ],
    )
    api.post("plans/startup/entitlements", {"entitlements": {"api": {"calls": 3, "enabled": True}}})

    def check(feature: str, **params: str) -> dict[str, Any]:
        answer = api.get(f"subscriptions/s/entitlements/{feature}/check", params=params)
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["entitlement_check"])

    first = check("api")
    assert (first["has_access"], first["reason"]) == (True, None)
    assert first["limits"] == [
        {
            "privilege_code": "calls",
            "billable_metric_code": "calls",
            "limit": 3,
            "usage": "0",
            "remaining": "3",
        }
    ]
    assert check("export")["reason"] == "not_entitled"
    for n in range(2):
        sent = api.post(
            "events",
            {
                "event": {
                    "transaction_id": f"t{n}",
                    "external_subscription_id": "s",
                    "code": "calls",
                }
            },
        )
        assert sent.status_code == 200, sent.text
    # 2 calls of 3: one left.
    assert check("api")["limits"][0]["remaining"] == "1"
    api.post(
        "events",
        {"event": {"transaction_id": "t2", "external_subscription_id": "s", "code": "calls"}},
    )
    # 3 calls of 3: the limit is reached (usage >= limit).
    third = check("api")
    assert (third["has_access"], third["reason"], third["limits"][0]["usage"]) == (
        False,
        "limit_reached",
        "3",
    )
    # The subscription raises its own limit to 10: 10 - 3 = 7 left.
    patch(api, "subscriptions/s/entitlements", {"entitlements": {"api": {"calls": 10}}})
    raised = check("api")
    assert raised["has_access"] and raised["limits"][0]["remaining"] == "7"
    # A prepaid customer with no wallet has no balance.
    assert check("api", require_prepaid_balance="true")["reason"] == "wallet_empty"
    # Switched off for this subscription.
    patch(api, "subscriptions/s/entitlements", {"entitlements": {"api": {"enabled": False}}})
    assert check("api")["reason"] == "disabled"
    assert api.get("subscriptions/nope/entitlements/api/check").status_code == 404
