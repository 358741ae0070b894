"""Every table of Meterly. Business objects are ORM-mapped; events stay Core for speed.

Each module holds the tables of one area and imports only `base` (and `catalog`, for the
plan a subscription points at), so the modules form no import cycle. Importing this
package imports every area, which puts every table on `metadata` (Alembic autogenerate,
`create_all`) and every class in `Base`'s registry (relationship strings resolve there)
whatever module a caller imported first; every name is re-exported here.
"""

from meterly.store.tables.activation_rules import SubscriptionActivationRule
from meterly.store.tables.activity import ActivityLog, ApiLog
from meterly.store.tables.base import NOT_DELETED, UUID, Base, Json, _live_unique, metadata
from meterly.store.tables.billing_entities import BillingEntity
from meterly.store.tables.billing_runs import BillingRun, BillingRunBatch
from meterly.store.tables.catalog import BillableMetricRow, Charge, ChargeFilter, Plan, Tax
from meterly.store.tables.corrections import EventCorrection, FeeCorrection
from meterly.store.tables.coupons import AddOnRow, AppliedCouponRow, CouponCredit, CouponRow
from meterly.store.tables.credit_notes import CreditNote, CreditNoteItem
from meterly.store.tables.customers import Customer, Subscription
from meterly.store.tables.documents import CustomerInvoiceCustomSection, InvoiceCustomSection
from meterly.store.tables.dunning import (
    CustomerDunning,
    DunningCampaign,
    PaymentRequest,
    PaymentRequestInvoice,
)
from meterly.store.tables.entitlements import (
    Feature,
    FeaturePrivilege,
    PlanEntitlement,
    SubscriptionEntitlement,
)
from meterly.store.tables.event_log import events
from meterly.store.tables.fixed_charges import FixedCharge, FixedChargeUnits
from meterly.store.tables.invoices import DocumentSequence, Fee, Invoice, InvoiceSubscription
from meterly.store.tables.mail import Email, MailOptOut, MailSettings
from meterly.store.tables.operators import Invitation, SignInFailure, User
from meterly.store.tables.payments import (
    ChargeAttempt,
    Payment,
    PaymentProviderConnection,
    PaymentReceipt,
    ProviderCustomer,
    ProviderEvent,
)
from meterly.store.tables.signing_keys import SigningKey
from meterly.store.tables.spend import Alert, LifetimeUsage, TriggeredAlert, UsageThresholdCrossing
from meterly.store.tables.tenancy import ApiKey, Organization
from meterly.store.tables.test_clocks import TestClock
from meterly.store.tables.wallets import (
    RecurringTransactionRule,
    Wallet,
    WalletTransaction,
    WalletTransactionConsumption,
)
from meterly.store.tables.webhooks import Webhook, WebhookEndpoint

__all__ = [
    "NOT_DELETED",
    "UUID",
    "ActivityLog",
    "AddOnRow",
    "Alert",
    "ApiKey",
    "ApiLog",
    "AppliedCouponRow",
    "Base",
    "BillableMetricRow",
    "BillingEntity",
    "BillingRun",
    "BillingRunBatch",
    "Charge",
    "ChargeAttempt",
    "ChargeFilter",
    "CouponCredit",
    "CouponRow",
    "CreditNote",
    "CreditNoteItem",
    "Customer",
    "CustomerDunning",
    "CustomerInvoiceCustomSection",
    "DocumentSequence",
    "DunningCampaign",
    "Email",
    "EventCorrection",
    "Feature",
    "FeaturePrivilege",
    "Fee",
    "FeeCorrection",
    "FixedCharge",
    "FixedChargeUnits",
    "Invitation",
    "Invoice",
    "InvoiceCustomSection",
    "InvoiceSubscription",
    "Json",
    "LifetimeUsage",
    "MailOptOut",
    "MailSettings",
    "Organization",
    "Payment",
    "PaymentProviderConnection",
    "PaymentReceipt",
    "PaymentRequest",
    "PaymentRequestInvoice",
    "Plan",
    "PlanEntitlement",
    "ProviderCustomer",
    "ProviderEvent",
    "RecurringTransactionRule",
    "SignInFailure",
    "SigningKey",
    "Subscription",
    "SubscriptionActivationRule",
    "SubscriptionEntitlement",
    "Tax",
    "TestClock",
    "TriggeredAlert",
    "UsageThresholdCrossing",
    "User",
    "Wallet",
    "WalletTransaction",
    "WalletTransactionConsumption",
    "Webhook",
    "WebhookEndpoint",
    "_live_unique",
    "events",
    "metadata",
]
