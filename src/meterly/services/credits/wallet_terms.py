"""What every wallet module shares: the statuses, transaction types and kinds of Lago's
wallets, the fee and invoice types a wallet deals with, and the lookups of a wallet, its
customer and what it applies to.

The lowest of the wallet modules (rules, ledger, ongoing balances, top-ups, invoice
credits, `wallets`): it imports none of them, so they can all import it.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound
from meterly.domain.wallets import AppliesTo
from meterly.store.tables import Customer
from meterly.store.tables_wallets import Wallet

ACTIVE = "active"
TERMINATED = "terminated"
INBOUND = "inbound"
OUTBOUND = "outbound"
PENDING = "pending"
SETTLED = "settled"
FAILED = "failed"
PURCHASED = "purchased"
GRANTED = "granted"
VOIDED = "voided"
INVOICED = "invoiced"
SOURCES = ("manual", "interval", "threshold")
TRANSACTION_STATUSES = (PENDING, SETTLED, FAILED)
TRANSACTION_TYPES = (INBOUND, OUTBOUND)
TRANSACTION_KINDS = (PURCHASED, GRANTED, VOIDED, INVOICED)
# Fee types a wallet may be limited to (Lago's wallet targets).
LIMITABLE_FEE_TYPES = ("charge", "subscription", "commitment")
# Invoices prepaid credits pay (Lago: subscription and progressive-billing invoices).
PAYABLE_INVOICE_TYPES = ("subscription", "progressive_billing", "advance_charges")


# The lookups the ledger, the top-ups and the balances need live here, under them all.
def find(session: Session, *, organization_id: str, wallet_id: str) -> Wallet:
    row = session.get(Wallet, wallet_id) if is_uuid(wallet_id) else None
    if row is None or row.organization_id != organization_id:
        raise NotFound("wallet")
    return row


def customer_of(session: Session, wallet: Wallet) -> Customer:
    customer = session.get(Customer, wallet.customer_id)
    assert customer is not None
    return customer


def applies_to_of(wallet: Wallet) -> AppliesTo:
    data = wallet.applies_to or {}
    return AppliesTo(
        fee_types=tuple(data.get("fee_types") or ()),
        billable_metric_codes=tuple(data.get("billable_metric_codes") or ()),
    )


def is_uuid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F-]{36}", value))
