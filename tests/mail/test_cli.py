"""`meterly org email`: the organization's sender settings from the command line."""

from __future__ import annotations

import pytest

# The CLI tests' helpers and fixtures (`url`: a migrated database of each backend; the
# autouse scratch directory), shared rather than copied.
from tests.e2e.test_cli import (  # noqa: F401
    create_org,
    fields,
    in_a_scratch_directory,
    meterly,
    ok,
    url,
)


def test_org_email_sets_the_sender_and_copies(url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("METERLY_SMTP_FROM", "billing@acme.test")
    monkeypatch.delenv("METERLY_SMTP_HOST", raising=False)
    org = create_org(url)["organization"]
    shown = fields(
        ok(
            "org", "email", "--org", org, "--sender-name", "Acme Billing",
            "--reply-to", "help@acme.test", "--cc", "a@acme.test", "--cc", "b@acme.test",
            "--database-url", url,
        )
    )  # fmt: skip
    assert shown["sender_name"] == "Acme Billing"
    assert shown["from_address"] == "billing@acme.test"
    assert shown["reply_to"] == "help@acme.test"
    assert shown["cc"] == "a@acme.test, b@acme.test"
    assert shown["smtp_configured"] == "no"
    # Only the options given change; --no-copies empties cc and bcc.
    again = fields(ok("org", "email", "--org", org, "--no-copies", "--database-url", url))
    assert again["sender_name"] == "Acme Billing" and again["cc"] == ""


def test_org_email_rejects_a_bad_address(url: str) -> None:  # noqa: F811
    org = create_org(url)["organization"]
    result = meterly("org", "email", "--org", org, "--reply-to", "nope", "--database-url", url)
    assert result.exit_code == 1
    assert "reply_to: invalid_email_format" in result.output
    assert fields(ok("org", "email", "--org", org, "--database-url", url))["reply_to"] == ""
