"""Every table of Meterly. Business objects are ORM-mapped; events stay Core for speed.

Alembic migrations (store/migrations) are generated from this metadata.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from meterly.store.types import AwareDateTime, ExactDecimal

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# Annotated: the area modules import these back while this module is still loading.
Json: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")
UUID: String = String(36)
NOT_DELETED = text("deleted_at IS NULL")


class Base(DeclarativeBase):
    metadata = metadata
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's declared mapping
        datetime: AwareDateTime(),
        Decimal: ExactDecimal(),
        dict[str, Any]: Json,
        list[Any]: Json,
        str: String(255),
    }


def _live_unique(name: str, *columns: str) -> Index:
    """Unique among rows not soft-deleted: Lago lets a deleted code be reused."""
    return Index(
        name, *columns, unique=True, sqlite_where=NOT_DELETED, postgresql_where=NOT_DELETED
    )


# --- tenancy -------------------------------------------------------------------------


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    name: Mapped[str]
    default_currency: Mapped[str] = mapped_column(String(3), default="USD")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    net_payment_term: Mapped[int] = mapped_column(Integer, default=0)
    invoice_grace_period: Mapped[int] = mapped_column(Integer, default=0)
    document_numbering: Mapped[str] = mapped_column(String(32), default="per_customer")
    document_number_prefix: Mapped[str] = mapped_column(String(16))
    finalize_zero_amount_invoice: Mapped[bool] = mapped_column(Boolean, default=True)
    hmac_key: Mapped[str] = mapped_column(String(64))
    webhook_url: Mapped[str | None]
    # Address, legal and contact fields: echoed on the wire, never used by billing rules.
    profile: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    billing_configuration: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    # sha256 of the secret: the secret itself is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


# --- catalogue -----------------------------------------------------------------------


class Tax(Base):
    __tablename__ = "taxes"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str]
    name: Mapped[str]
    rate: Mapped[Decimal]
    description: Mapped[str | None] = mapped_column(Text)
    applied_to_organization: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BillableMetricRow(Base):
    __tablename__ = "billable_metrics"
    __table_args__ = (_live_unique("uq_billable_metrics_code", "organization_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    code: Mapped[str]
    name: Mapped[str]
    description: Mapped[str | None] = mapped_column(Text)
    aggregation_type: Mapped[str] = mapped_column(String(32))
    field_name: Mapped[str | None]
    recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    rounding_function: Mapped[str | None] = mapped_column(String(8))
    rounding_precision: Mapped[int | None]
    weighted_interval: Mapped[str | None] = mapped_column(String(16))
    expression: Mapped[str | None] = mapped_column(Text)
    # [{"key": "region", "values": ["eu", "us"]}]
    filters: Mapped[list[Any]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (_live_unique("uq_plans_code", "organization_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    # Overridden plans (subscription plan_overrides) are hidden children of a parent plan.
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id"))
    code: Mapped[str]
    name: Mapped[str]
    invoice_display_name: Mapped[str | None]
    description: Mapped[str | None] = mapped_column(Text)
    interval: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
    trial_period: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, default=False)
    bill_charges_monthly: Mapped[bool | None]
    tax_codes: Mapped[list[Any]] = mapped_column(Json, default=list)
    # {"amount_cents": 10000, "invoice_display_name": ..., "tax_codes": [...], "lago_id": ...}
    minimum_commitment: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # [{"lago_id", "amount_cents", "threshold_display_name", "recurring"}]
    usage_thresholds: Mapped[list[Any]] = mapped_column(Json, default=list)
    plan_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", Json)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    charges: Mapped[list[Charge]] = relationship(
        back_populates="plan",
        order_by="Charge.position",
        primaryjoin="and_(Plan.id == Charge.plan_id, Charge.deleted_at.is_(None))",
        viewonly=True,
        lazy="selectin",
    )


class Charge(Base):
    __tablename__ = "charges"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    billable_metric_id: Mapped[str] = mapped_column(ForeignKey("billable_metrics.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str]
    charge_model: Mapped[str] = mapped_column(String(32))
    invoice_display_name: Mapped[str | None]
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, default=False)
    prorated: Mapped[bool] = mapped_column(Boolean, default=False)
    invoiceable: Mapped[bool] = mapped_column(Boolean, default=True)
    regroup_paid_fees: Mapped[str | None] = mapped_column(String(16))
    min_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    tax_codes: Mapped[list[Any]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    plan: Mapped[Plan] = relationship(back_populates="charges", viewonly=True)
    billable_metric: Mapped[BillableMetricRow] = relationship(lazy="joined", viewonly=True)
    filters: Mapped[list[ChargeFilter]] = relationship(
        primaryjoin="and_(Charge.id == ChargeFilter.charge_id, ChargeFilter.deleted_at.is_(None))",
        order_by="ChargeFilter.created_at",
        viewonly=True,
        lazy="selectin",
    )


class ChargeFilter(Base):
    __tablename__ = "charge_filters"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    charge_id: Mapped[str] = mapped_column(ForeignKey("charges.id"), index=True)
    invoice_display_name: Mapped[str | None]
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # {"region": ["eu"], "cloud": ["__ALL_FILTER_VALUES__"]}
    values: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


# --- customers and subscriptions -----------------------------------------------------


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (_live_unique("uq_customers_external_id", "organization_id", "external_id"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    external_id: Mapped[str]
    sequential_id: Mapped[int] = mapped_column(Integer)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None]
    email: Mapped[str | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    timezone: Mapped[str | None] = mapped_column(String(64))
    net_payment_term: Mapped[int | None]
    invoice_grace_period: Mapped[int | None]
    finalize_zero_amount_invoice: Mapped[str] = mapped_column(String(16), default="inherit")
    tax_codes: Mapped[list[Any]] = mapped_column(Json, default=list)
    # Lago's free fields (address, legal, contact, shipping address, ...) echoed as sent.
    profile: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    billing_configuration: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # [{"lago_id", "key", "value", "display_in_invoice", "created_at"}]
    customer_metadata: Mapped[list[Any]] = mapped_column("metadata", Json, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_external", "organization_id", "external_id", "status"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    external_id: Mapped[str]
    name: Mapped[str | None]
    # pending | active | terminated | canceled
    status: Mapped[str] = mapped_column(String(16))
    billing_time: Mapped[str] = mapped_column(String(16))
    subscription_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ending_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    trial_ended_at: Mapped[datetime | None]
    # An upgrade/downgrade chain: the subscription this one replaced.
    previous_subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    on_termination_credit_note: Mapped[str | None] = mapped_column(String(16))
    on_termination_invoice: Mapped[str] = mapped_column(String(16), default="generate")
    progressive_billing_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    usage_thresholds: Mapped[list[Any]] = mapped_column(Json, default=list)
    # Last billing boundary invoiced by the billing clock (None before the first one).
    last_billed_boundary: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    customer: Mapped[Customer] = relationship(lazy="joined", viewonly=True)
    plan: Mapped[Plan] = relationship(lazy="joined", viewonly=True)


# --- events --------------------------------------------------------------------------

# Events are appended, never updated. Idempotency is Lago's: one event per
# (organization, external subscription, transaction id); the unique index leads with the
# transaction id so `GET /events/{transaction_id}` uses it too. The second index serves
# the usage queries: one subscription, one metric code, a time window.
events = Table(
    "events",
    metadata,
    Column("organization_id", UUID, nullable=False),
    Column("transaction_id", String(255), nullable=False),
    Column("external_subscription_id", String(255), nullable=False),
    Column("code", String(255), nullable=False),
    Column("timestamp", AwareDateTime(), nullable=False),
    Column("properties", Json, nullable=False),
    Column("precise_total_amount_cents", ExactDecimal(), nullable=True),
    Column("lago_id", UUID, nullable=False),
    Column("created_at", AwareDateTime(), nullable=False),
    Index(
        "uq_events_idempotency",
        "organization_id",
        "transaction_id",
        "external_subscription_id",
        unique=True,
    ),
    Index("ix_events_usage", "organization_id", "external_subscription_id", "code", "timestamp"),
)


# --- invoices and fees ---------------------------------------------------------------


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_customer", "organization_id", "customer_id", "issuing_date"),
        # One document number per organization once finalized (drafts have none).
        Index(
            "uq_invoices_number",
            "organization_id",
            "number",
            unique=True,
            sqlite_where=text("number IS NOT NULL"),
            postgresql_where=text("number IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    # subscription | add_on | credit | one_off | advance_charges | progressive_billing
    invoice_type: Mapped[str] = mapped_column(String(32))
    # draft | finalized | voided | failed
    status: Mapped[str] = mapped_column(String(16))
    # pending | succeeded | failed
    payment_status: Mapped[str] = mapped_column(String(16), default="pending")
    currency: Mapped[str] = mapped_column(String(3))
    number: Mapped[str | None] = mapped_column(String(64))
    sequential_id: Mapped[int | None]
    issuing_date: Mapped[datetime]
    payment_due_date: Mapped[datetime]
    net_payment_term: Mapped[int] = mapped_column(Integer, default=0)
    fees_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    coupons_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    progressive_billing_credit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    sub_total_excluding_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    sub_total_including_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_notes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    prepaid_credit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_paid_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # Every step of the waterfall, kept so the invoice, its PDF and webhook show each line:
    # {"applied_taxes": [...], "credits": [...], "wallets": [...]}
    breakdown: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    invoice_metadata: Mapped[list[Any]] = mapped_column("metadata", Json, default=list)
    file_path: Mapped[str | None] = mapped_column(String(512))
    payment_overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    # Draft invoices stay open for late events until this instant (the grace period).
    finalize_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    finalized_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    fees: Mapped[list[Fee]] = relationship(
        order_by="Fee.position",
        lazy="selectin",
        viewonly=True,
        primaryjoin="and_(Invoice.id == Fee.invoice_id, Fee.deleted_at.is_(None))",
    )
    periods: Mapped[list[InvoiceSubscription]] = relationship(lazy="selectin", viewonly=True)


class InvoiceSubscription(Base):
    """The period of one subscription an invoice bills: its idempotency key.

    The unique (subscription, boundary, reason) key makes a billing run safe to repeat or
    to run on several workers at once: a second insert of the same period fails and the
    second unit of work rolls back whole.
    """

    __tablename__ = "invoice_subscriptions"
    __table_args__ = (
        # Pay-in-advance invoices are keyed by their fee's event instead (see Fee).
        Index(
            "uq_invoice_subscriptions_period",
            "subscription_id",
            "boundary",
            "invoicing_reason",
            unique=True,
            sqlite_where=text("invoicing_reason <> 'in_advance_charge'"),
            postgresql_where=text("invoicing_reason <> 'in_advance_charge'"),
        ),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    boundary: Mapped[datetime]
    # subscription_periodic | subscription_starting | subscription_terminating |
    # in_advance_charge | progressive_billing
    invoicing_reason: Mapped[str] = mapped_column(String(32))
    from_datetime: Mapped[datetime | None]
    to_datetime: Mapped[datetime | None]
    charges_from_datetime: Mapped[datetime | None]
    charges_to_datetime: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Fee(Base):
    __tablename__ = "fees"
    __table_args__ = (
        Index("ix_fees_subscription", "subscription_id", "charge_id"),
        # One pay-in-advance fee per event and charge: processing an event twice is a no-op.
        Index(
            "uq_fees_advance_event",
            "subscription_id",
            "charge_id",
            "event_transaction_id",
            unique=True,
            sqlite_where=text("event_transaction_id IS NOT NULL"),
            postgresql_where=text("event_transaction_id IS NOT NULL"),
        ),
        Index("ix_fees_org_created", "organization_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    charge_id: Mapped[str | None] = mapped_column(ForeignKey("charges.id"))
    charge_filter_id: Mapped[str | None] = mapped_column(ForeignKey("charge_filters.id"))
    # A spending-minimum true-up fee points at the fee it tops up.
    true_up_parent_fee_id: Mapped[str | None] = mapped_column(ForeignKey("fees.id"))
    add_on_id: Mapped[str | None] = mapped_column(UUID)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # subscription | charge | add_on | credit | commitment
    fee_type: Mapped[str] = mapped_column(String(16))
    # item: {"type", "code", "name", "description", "invoice_display_name", "filters",
    #        "filter_invoice_display_name", "lago_item_id", "item_type", "grouped_by"}
    item: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, default=False)
    invoiceable: Mapped[bool] = mapped_column(Boolean, default=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    precise_amount_cents: Mapped[Decimal]
    unit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_unit_amount: Mapped[Decimal]
    units: Mapped[Decimal]
    total_aggregated_units: Mapped[Decimal | None]
    events_count: Mapped[int | None]
    precise_coupons_amount_cents: Mapped[Decimal] = mapped_column(
        ExactDecimal(), default=Decimal(0)
    )
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_precise_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    taxes_rate: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    # [{"tax_code", "tax_name", "tax_rate", "amount_cents", "precise_amount_cents"}]
    applied_taxes: Mapped[list[Any]] = mapped_column(Json, default=list)
    # Lago's amount_details, and Meterly's explanation: tiers, unit prices, event counts.
    amount_details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    explanation: Mapped[list[Any]] = mapped_column(Json, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    event_transaction_id: Mapped[str | None]
    payment_status: Mapped[str] = mapped_column(String(16), default="pending")
    from_datetime: Mapped[datetime | None]
    to_datetime: Mapped[datetime | None]
    succeeded_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class DocumentSequence(Base):
    """Counters behind invoice numbers, bumped under a row lock so numbers never repeat."""

    __tablename__ = "document_sequences"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    # "org:<YYYYMM>" for per-organization numbering, "customer:<id>" per customer.
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


# --- webhooks ------------------------------------------------------------------------


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (UniqueConstraint("organization_id", "webhook_url"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    webhook_url: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str | None]
    signature_algo: Mapped[str] = mapped_column(String(8), default="hmac")
    # None: every event type.
    event_types: Mapped[list[Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Webhook(Base):
    """The outbox: written in the same transaction as the change it announces."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    webhook_endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    webhook_type: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(UUID)
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    # pending | retrying | succeeded | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    retries: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None]
    response: Mapped[str | None] = mapped_column(Text)
    # [{"at", "http_status", "error", "duration_ms"}]
    attempts: Mapped[list[Any]] = mapped_column(Json, default=list)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# The tables of other areas live in their own modules. Importing them here puts every
# table on `metadata` (Alembic autogenerate, create_all) whatever a caller imported first.
from meterly.store import (  # noqa: E402
    tables_coupons,  # noqa: F401
    tables_spend,  # noqa: F401
)
from meterly.store.tables_credit_notes import CreditNote  # noqa: E402, F401
from meterly.store.tables_wallets import Wallet, WalletTransaction  # noqa: E402, F401


class SigningKey(Base):
    """Installation-wide keys, e.g. the RSA key that signs JWT webhooks (Lago's RS256)."""

    __tablename__ = "signing_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
