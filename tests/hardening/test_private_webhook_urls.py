"""Webhook endpoint URLs inside the server's network are refused unless the org allows them."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from meterly.cli.main import app
from meterly.jobs import webhooks as delivery
from meterly.services.notifications import url_guard
from meterly.store.tables import Organization


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/h",
        "http://192.168.0.10/h",
        "http://172.16.5.4/h",
        "http://[::1]/h",
        "http://[fd00::1]/h",
        "http://[::ffff:127.0.0.1]/h",
        "http://0.0.0.0/h",
    ],
)
def test_private_urls_are_refused_with_422(api: Any, url: str) -> None:
    answer = api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": url}})
    assert answer.status_code == 422
    assert answer.json()["error_details"] == {"webhook_url": ["url_is_private"]}
    assert api.get("webhook_endpoints").json()["webhook_endpoints"] == []


def test_a_public_address_is_accepted_and_the_setting_allows_private(api: Any) -> None:
    public = api.post(
        "webhook_endpoints", {"webhook_endpoint": {"webhook_url": "http://8.8.8.8/h"}}
    )
    assert public.status_code == 200
    lago_id = public.json()["webhook_endpoint"]["lago_id"]
    moved = api.put(
        f"webhook_endpoints/{lago_id}", {"webhook_endpoint": {"webhook_url": "http://10.0.0.1/h"}}
    )
    assert moved.status_code == 422
    with api.database.unit_of_work() as session:
        session.get(Organization, api.org_id).allow_private_webhook_urls = True
    body = {"webhook_endpoint": {"webhook_url": "http://127.0.0.1:9/hook"}}
    assert api.post("webhook_endpoints", body).status_code == 200


def test_delivery_rechecks_the_address() -> None:
    claim = delivery.Claim("w1", "http://127.0.0.1:9/hook", b"{}", "k", lease_until=None)  # type: ignore[arg-type]
    with pytest.raises(url_guard.PrivateAddress, match=r"127\.0\.0\.1"):
        url_guard.check_delivery(claim.url, allow_private=claim.allow_private)
    outcome = delivery.send(None, claim, timeout=1)  # type: ignore[arg-type]
    # Refused before any connection: no HTTP status, the reason recorded.
    assert outcome.http_status is None
    assert outcome.error is not None and outcome.error.startswith("refused: ")


def test_the_org_settings_command(migrated_db_url: str, api: Any) -> None:
    del api
    runner = CliRunner()
    with_db = ["--database-url", migrated_db_url]
    listed = runner.invoke(app, ["org", "list", *with_db])
    org_id = listed.stdout.splitlines()[1].split("\t")[0]
    shown = runner.invoke(app, ["org", "settings", org_id, *with_db])
    assert "allow_private_webhook_urls: no" in shown.stdout
    allowed = runner.invoke(
        app, ["org", "settings", org_id, "--allow-private-webhook-urls", *with_db]
    )
    assert allowed.exit_code == 0, allowed.output
    assert "allow_private_webhook_urls: yes" in allowed.stdout
