"""Spend control: progressive billing (invoice early when lifetime usage crosses a
threshold) and alerts on usage and wallet balances, checked by `spend.run_checks`."""

from meterly.services.spend_control import alerts, progressive_billing, spend

__all__ = ["alerts", "progressive_billing", "spend"]
