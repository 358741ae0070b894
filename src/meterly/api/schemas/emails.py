"""The body of Lago's `resend_email` actions: `{to[], cc[], bcc[]}`, every key optional."""

from __future__ import annotations

from typing import Any

from meterly.domain.errors import ValidationFailed
from meterly.services import mail


def resend_overrides(body: Any) -> mail.Overrides:
    """Recipient lists an operator named; None (absent) keeps the customer's own."""
    if body is None:
        return mail.Overrides()
    if not isinstance(body, dict):
        raise ValidationFailed.field("base", "value_is_invalid")
    lists: dict[str, list[str] | None] = {}
    for name in ("to", "cc", "bcc"):
        value = body.get(name)
        if value is None:
            lists[name] = None
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            lists[name] = [v.strip() for v in value if v.strip()]
        else:
            raise ValidationFailed.field(name, "value_is_invalid")
    return mail.Overrides(to=lists["to"], cc=lists["cc"], bcc=lists["bcc"])
