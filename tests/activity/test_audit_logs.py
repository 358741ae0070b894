"""Activity logs (one entry per change, with its actor and before/after) and API logs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from meterly.services import activity
from meterly.services.catalog import taxes
from tests.conftest import ApiClient
from tests.operators.conftest import add_user, browser_for, csrf, sign_in


def logs_of(api: ApiClient, resource_id: str) -> list[dict[str, Any]]:
    body: dict[str, Any] = api.get(f"activity_logs?resource_ids[]={resource_id}").json()  # type: ignore[attr-defined]
    # Oldest first; entries of one frozen instant: a creation precedes its updates.
    return sorted(body["activity_logs"], key=lambda e: not e["activity_type"].endswith(".created"))


def key_id(api: ApiClient) -> str:
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        from sqlalchemy import select

        from meterly.store.tables import ApiKey

        return str(session.scalar(select(ApiKey.id).where(ApiKey.organization_id == api.org_id)))


def test_api_key_changes_are_logged_once_each_with_before_and_after(api: ApiClient) -> None:
    created = api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": "20"}}).json()  # type: ignore[attr-defined]
    tax_id = created["tax"]["lago_id"]
    api.put("taxes/vat", {"tax": {"rate": "21"}})
    entries = logs_of(api, tax_id)
    assert [e["activity_type"] for e in entries] == ["tax.created", "tax.updated"]
    assert all(e["actor_type"] == "api_key" and e["actor_id"] == key_id(api) for e in entries)
    assert all(e["activity_source"] == "api" for e in entries)
    assert entries[0]["activity_object_changes"]["rate"] == [None, "20"]
    assert entries[1]["activity_object_changes"] == {"rate": ["20", "21"]}
    one = api.get(f"activity_logs/{entries[1]['activity_id']}").json()  # type: ignore[attr-defined]
    assert one["activity_log"]["resource_type"] == "Tax"
    assert api.get("activity_logs/unknown").status_code == 404  # type: ignore[attr-defined]


def test_system_and_user_changes_name_their_actor(api: ApiClient) -> None:
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        row = taxes.create(
            session,
            organization_id=api.org_id,
            data=taxes.TaxInput(
                name="GST", code="gst", rate="10", sent=frozenset({"name", "code", "rate"})
            ),
            clock=api.client.app.state.clock,
        )
        tax_id = row.id
    (entry,) = logs_of(api, tax_id)
    assert (entry["actor_type"], entry["actor_id"], entry["activity_source"]) == (
        "system",
        None,
        "system",
    )

    from meterly.web import install_web

    install_web(api.client.app)
    add_user(api, "boss@acme.test", "admin")
    viewer_id = add_user(api, "ana@acme.test", "viewer")
    boss = browser_for(api)
    sign_in(boss, "boss@acme.test")
    token = csrf(boss.get("/dashboard/users").text)
    done = boss.post(f"/dashboard/users/{viewer_id}/role", data={"csrf": token, "role": "finance"})
    assert "is now finance" in done.text, done.text[:300]
    changes = [e for e in logs_of(api, viewer_id) if e["activity_type"] == "user.updated"]
    assert len(changes) == 1
    assert changes[0]["actor_type"] == "user"
    assert changes[0]["user_email"] == "boss@acme.test"
    assert changes[0]["activity_source"] == "front"
    assert changes[0]["activity_object_changes"]["role"] == ["viewer", "finance"]
    # The password hash never reaches a log.
    assert "argon2" not in str(logs_of(api, viewer_id))


def test_api_logs_keep_writes_with_secrets_redacted(api: ApiClient) -> None:
    answer = api.post(
        "taxes", {"tax": {"name": "VAT", "code": "vat", "rate": "20"}, "api_secret": "s3cr3t"}
    )  # type: ignore[attr-defined]
    request_id = answer.headers["x-request-id"]
    api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": "20"}})  # a 422 duplicate
    api.get("taxes")  # reads are not logged
    body = api.get("api_logs").json()  # type: ignore[attr-defined]
    assert body["meta"]["total_count"] == 2
    one = api.get(f"api_logs/{request_id}").json()["api_log"]  # type: ignore[attr-defined]
    assert (one["http_method"], one["http_status"], one["request_path"]) == ("post", 200, "/taxes")
    assert "s3cr3t" not in one["request_body"] and "[redacted]" in one["request_body"]
    failed = api.get("api_logs?http_statuses[]=failed").json()  # type: ignore[attr-defined]
    assert [r["http_status"] for r in failed["api_logs"]] == [422]


def test_retention_prunes_old_logs(api: ApiClient) -> None:
    api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": "20"}})  # type: ignore[attr-defined]
    now = api.client.app.state.clock.now()
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        assert activity.prune(session, now=now + timedelta(days=89), days=90) == 0
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        # The tax's activity log and its API log, both 91 days old.
        assert activity.prune(session, now=now + timedelta(days=91), days=90) == 2
