"""Wallets at their old path, for its importers; the tables are in `tables.wallets`."""

from meterly.store.tables.wallets import (
    RecurringTransactionRule,
    Wallet,
    WalletTransaction,
    WalletTransactionConsumption,
)

__all__ = [
    "RecurringTransactionRule",
    "Wallet",
    "WalletTransaction",
    "WalletTransactionConsumption",
]
