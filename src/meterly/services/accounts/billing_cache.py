"""What every invoice of an organization reads alike, read once per batch of a billing run.

`billing.run` bills subscriptions in batches; each invoice is its own unit of work. The
organization's settings, its taxes and its webhook endpoints are the same for every
invoice of the batch, so the batch reads them once (`BatchCache`) instead of once per
invoice. Outside a batch (an API request, a job, the worker's other threads) nothing is
cached: the cache lives in a ContextVar set only around the batch's units of work.

Keyed by organization, so no invoice ever sees another organization's rows. Settings
(taxes, endpoints, invoice custom sections) changed while a batch runs apply from the next
batch. Nothing here holds balances or
anything an invoice consumes: those are read in the unit of work.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.taxes import Tax as TaxRate
from meterly.services.catalog import TaxContext, domain_tax
from meterly.store.tables import Customer, Organization, Plan, Tax, WebhookEndpoint


@dataclass(frozen=True, slots=True)
class TaxRow:
    id: str
    code: str
    rate: TaxRate
    applied_to_organization: bool


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What the outbox needs of a webhook endpoint."""

    id: str
    event_types: tuple[Any, ...] | None


@dataclass
class BatchCache:
    organizations: dict[str, Organization] = field(default_factory=dict)  # detached, loaded
    taxes: dict[str, tuple[TaxRow, ...]] = field(default_factory=dict)
    endpoints: dict[str, tuple[Endpoint, ...]] = field(default_factory=dict)
    # Per organization: its default invoice custom sections (as a document snapshot prints
    # them) and the customers that chose their own (`invoicing.snapshot`).
    custom_sections: dict[str, tuple[tuple[dict[str, Any], ...], frozenset[str]]] = field(
        default_factory=dict
    )
    # The batch's customers (`credit_probed`) and, per credit area, those among them that
    # area could offer anything when the batch was read (`credits.available_credits`).
    credit_probed: frozenset[str] = frozenset()
    credit_holders: dict[str, frozenset[str]] = field(default_factory=dict)


_current: ContextVar[BatchCache | None] = ContextVar("billing_batch_cache", default=None)


@contextmanager
def active(cache: BatchCache) -> Iterator[BatchCache]:
    """Serve `cache` to the units of work run inside this block (this thread only)."""
    token = _current.set(cache)
    try:
        yield cache
    finally:
        _current.reset(token)


def current() -> BatchCache | None:
    return _current.get()


# --- organization ----------------------------------------------------------------------


def organization(session: Session, organization_id: str) -> Organization | None:
    """The organization in this session: the batch's copy when there is one (no SELECT)."""
    cache = _current.get()
    snapshot = cache.organizations.get(organization_id) if cache else None
    if snapshot is None:
        return session.get(Organization, organization_id)
    return session.merge(snapshot, load=False)


# --- taxes -----------------------------------------------------------------------------


def tax_rows(session: Session, organization_id: str) -> tuple[TaxRow, ...]:
    """Every tax of the organization, in the order the database returns them."""
    cache = _current.get()
    if cache is not None and organization_id in cache.taxes:
        return cache.taxes[organization_id]

    rows = tuple(
        TaxRow(row.id, row.code, domain_tax(row), bool(row.applied_to_organization))
        for row in session.scalars(select(Tax).where(Tax.organization_id == organization_id))
    )
    if cache is not None:
        cache.taxes[organization_id] = rows
    return rows


def tax_context(session: Session, customer: Customer, plan: Plan | None) -> TaxContext:
    """`TaxContext.for_customer`, from the batch's taxes when there are some."""

    if _current.get() is None:
        return TaxContext.for_customer(session, customer, plan)
    rows = tax_rows(session, customer.organization_id)
    by_code = {r.code: r.rate for r in rows}
    return TaxContext(
        organization=tuple(by_code[r.code] for r in rows if r.applied_to_organization),
        customer=tuple(by_code[c] for c in customer.tax_codes or () if c in by_code),
        plan=tuple(by_code[c] for c in (plan.tax_codes if plan else ()) or () if c in by_code),
        by_code=by_code,
    )


def tax_ids(session: Session, organization_id: str) -> dict[str, str]:
    """Tax code -> lago_id, so every applied tax names the tax it applies."""
    if _current.get() is None:
        query = select(Tax.code, Tax.id).where(Tax.organization_id == organization_id)
        return {str(code): str(tax_id) for code, tax_id in session.execute(query)}
    return {r.code: r.id for r in tax_rows(session, organization_id)}


# --- webhook endpoints -----------------------------------------------------------------


def webhook_endpoints(session: Session, organization_id: str) -> Sequence[Endpoint]:
    """The organization's endpoints, oldest first."""
    cache = _current.get()
    if cache is not None and organization_id in cache.endpoints:
        return cache.endpoints[organization_id]
    rows = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types)
        .where(WebhookEndpoint.organization_id == organization_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    endpoints = tuple(
        Endpoint(str(endpoint_id), tuple(types) if types else None) for endpoint_id, types in rows
    )
    if cache is not None:
        cache.endpoints[organization_id] = endpoints
    return endpoints
