"""Why a stored event will never be billed: the classifier's answer for the API and dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from meterly.store import reconciliation as store
from meterly.store import reconciliation_pages as pages

REASONS = store.REASONS


def fates(
    session: Session, *, organization_id: str, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Each event's fate (billed, pending, or a reason), by (transaction id, subscription)."""
    return pages.fates_of(session.connection(), organization_id, keys)


def events_with_fates(
    session: Session,
    *,
    organization_id: str,
    page: int,
    per_page: int,
    only_unbilled: bool = False,
    reason: str | None = None,
    **filters: Any,
) -> tuple[list[dict[str, Any]], int]:
    """A page of events, newest first, each with `fate`; optionally only the never-billed."""
    return pages.events_page(
        session.connection(),
        organization_id,
        page=page,
        per_page=per_page,
        only_unbilled=only_unbilled,
        reason=reason,
        **filters,
    )


def not_billed_reason(fate: str | None) -> str | None:
    """The reason an event will never be billed, or None when it is or will be billed."""
    return fate if fate in store.REASONS else None
