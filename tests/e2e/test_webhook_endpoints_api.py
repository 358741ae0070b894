"""Webhook endpoints and the delivery history through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from meterly.store.tables import Organization


def endpoint_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"webhook_url": "https://hooks.example.com/lago", "name": "main"}
    body.update(overrides)
    return {"webhook_endpoint": body}


def test_create_returns_lago_webhook_endpoint_object(api: Any) -> None:
    created = api.post("webhook_endpoints", endpoint_body(signature_algo="hmac"))
    assert created.status_code == 200, created.text
    endpoint = created.json()["webhook_endpoint"]
    assert set(endpoint) == {
        "lago_id",
        "lago_organization_id",
        "webhook_url",
        "signature_algo",
        "name",
        "event_types",
        "created_at",
    }
    assert endpoint["lago_organization_id"] == api.org_id
    assert endpoint["webhook_url"] == "https://hooks.example.com/lago"
    assert endpoint["signature_algo"] == "hmac"
    assert endpoint["event_types"] is None
    assert endpoint["created_at"] == "2024-01-15T12:00:00Z"
    shown = api.get(f"webhook_endpoints/{endpoint['lago_id']}")
    assert shown.json()["webhook_endpoint"] == endpoint


def test_missing_signature_algo_means_hmac(api: Any) -> None:
    created = api.post("webhook_endpoints", endpoint_body(signature_algo=None))
    assert created.json()["webhook_endpoint"]["signature_algo"] == "hmac"


def test_jwt_endpoints_are_accepted_as_lago_does(api: Any) -> None:
    response = api.post("webhook_endpoints", endpoint_body(signature_algo="jwt"))
    assert response.status_code == 200, response.text
    assert response.json()["webhook_endpoint"]["signature_algo"] == "jwt"


def test_unknown_signature_algo_is_invalid_and_changes_nothing(api: Any) -> None:
    response = api.post("webhook_endpoints", endpoint_body(signature_algo="md5"))
    assert response.status_code == 422
    assert response.json()["error_details"] == {"signature_algo": ["value_is_invalid"]}
    assert api.get("webhook_endpoints").json()["meta"]["total_count"] == 0


def test_invalid_urls_are_rejected(api: Any) -> None:
    for url in ("not a url", "ftp://example.com/x", "https://", "example.com/hook"):
        response = api.post("webhook_endpoints", endpoint_body(webhook_url=url))
        assert response.status_code == 422, url
        assert response.json()["error_details"] == {"webhook_url": ["url_is_invalid"]}


def test_missing_url_is_mandatory(api: Any) -> None:
    response = api.post("webhook_endpoints", {"webhook_endpoint": {"name": "x"}})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"webhook_url": ["value_is_mandatory"]}


def test_missing_root_key_is_a_bad_request(api: Any) -> None:
    assert api.post("webhook_endpoints", {"webhook_url": "https://a.example"}).status_code == 400


def test_url_is_unique_per_organization(api: Any) -> None:
    api.post("webhook_endpoints", endpoint_body())
    again = api.post("webhook_endpoints", endpoint_body(name="other"))
    assert again.status_code == 422
    assert again.json()["error_details"] == {"webhook_url": ["value_already_exist"]}


def test_at_most_ten_endpoints(api: Any) -> None:
    for i in range(10):
        url = f"https://hooks.example.com/{i}"
        assert api.post("webhook_endpoints", endpoint_body(webhook_url=url)).status_code == 200
    eleventh = api.post("webhook_endpoints", endpoint_body(webhook_url="https://x.example/11"))
    assert eleventh.status_code == 422
    assert eleventh.json()["error_details"] == {"base": ["webhook_endpoint_limit_reached"]}


def test_event_types_are_validated_against_lago_list(api: Any) -> None:
    bad = api.post("webhook_endpoints", endpoint_body(event_types=["invoice.created", "nope"]))
    assert bad.status_code == 422
    assert bad.json()["error_details"] == {"event_types": ["invalid_event_types"]}
    good = api.post(
        "webhook_endpoints",
        endpoint_body(event_types=["invoice.created", "subscription.started", "event.error"]),
    )
    assert good.status_code == 200, good.text
    assert good.json()["webhook_endpoint"]["event_types"] == [
        "event.error",
        "invoice.created",
        "subscription.started",
    ]


def test_update_changes_url_name_and_event_types(api: Any) -> None:
    with api.database.unit_of_work() as session:  # a loopback URL: allowed explicitly
        session.get(Organization, api.org_id).allow_private_webhook_urls = True
    lago_id = api.post("webhook_endpoints", endpoint_body()).json()["webhook_endpoint"]["lago_id"]
    updated = api.put(
        f"webhook_endpoints/{lago_id}",
        {
            "webhook_endpoint": {
                "webhook_url": "http://127.0.0.1:9000/in",
                "name": "renamed",
                "event_types": ["invoice.created"],
            }
        },
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()["webhook_endpoint"]
    assert (body["webhook_url"], body["name"], body["event_types"]) == (
        "http://127.0.0.1:9000/in",
        "renamed",
        ["invoice.created"],
    )
    cleared = api.put(f"webhook_endpoints/{lago_id}", {"webhook_endpoint": {"event_types": None}})
    assert cleared.json()["webhook_endpoint"]["event_types"] is None
    assert cleared.json()["webhook_endpoint"]["name"] == "renamed"


def test_update_to_a_taken_url_is_rejected(api: Any) -> None:
    api.post("webhook_endpoints", endpoint_body(webhook_url="https://a.example/h"))
    second = api.post("webhook_endpoints", endpoint_body(webhook_url="https://b.example/h"))
    lago_id = second.json()["webhook_endpoint"]["lago_id"]
    response = api.put(
        f"webhook_endpoints/{lago_id}",
        {"webhook_endpoint": {"webhook_url": "https://a.example/h"}},
    )
    assert response.status_code == 422
    assert response.json()["error_details"] == {"webhook_url": ["value_already_exist"]}
    same = api.put(
        f"webhook_endpoints/{lago_id}",
        {"webhook_endpoint": {"webhook_url": "https://b.example/h"}},
    )
    assert same.status_code == 200


def test_list_is_paginated(api: Any) -> None:
    for i in range(3):
        api.post("webhook_endpoints", endpoint_body(webhook_url=f"https://h.example/{i}"))
    page = api.get("webhook_endpoints", params={"per_page": 2, "page": 2}).json()
    assert len(page["webhook_endpoints"]) == 1
    assert page["meta"]["total_count"] == 3
    assert page["meta"]["total_pages"] == 2


def test_delete_returns_the_endpoint_then_404(api: Any) -> None:
    lago_id = api.post("webhook_endpoints", endpoint_body()).json()["webhook_endpoint"]["lago_id"]
    deleted = api.delete(f"webhook_endpoints/{lago_id}")
    assert deleted.status_code == 200
    assert deleted.json()["webhook_endpoint"]["lago_id"] == lago_id
    missing = api.get(f"webhook_endpoints/{lago_id}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "webhook_endpoint_not_found"
    assert api.delete(f"webhook_endpoints/{lago_id}").status_code == 404


def test_unknown_endpoint_is_404(api: Any) -> None:
    response = api.put("webhook_endpoints/00000000-0000-0000-0000-000000000000", endpoint_body())
    assert response.status_code == 404
    assert response.json()["code"] == "webhook_endpoint_not_found"


def test_json_public_key_is_a_stable_base64_pem(api: Any) -> None:
    import base64

    first = api.get("webhooks/json_public_key")
    assert first.status_code == 200, first.text
    pem = base64.b64decode(first.json()["webhook"]["public_key"])
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    again = api.get("webhooks/json_public_key").json()["webhook"]["public_key"]
    assert again == first.json()["webhook"]["public_key"]


def test_requests_without_key_are_401(api: Any) -> None:
    assert api.client.get("/api/v1/webhook_endpoints").status_code == 401
    assert api.client.get("/api/v1/webhooks").status_code == 401


def test_deliveries_list_empty_and_filters_by_status(api: Any) -> None:
    listing = api.get("webhooks")
    assert listing.status_code == 200
    assert listing.json()["webhooks"] == []
    assert api.get("webhooks", params={"status": "failed"}).status_code == 200
    bad = api.get("webhooks", params={"status": "exploded"})
    assert bad.status_code == 422
    assert bad.json()["error_details"] == {"status": ["value_is_invalid"]}


def test_unknown_delivery_cannot_be_retried(api: Any) -> None:
    response = api.post("webhooks/00000000-0000-0000-0000-000000000000/retry")
    assert response.status_code == 404
    assert response.json()["code"] == "webhook_not_found"
