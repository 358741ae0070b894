"""Spend control at its old path, for its importers; the tables are in `tables.spend`."""

from meterly.store.tables.spend import Alert, LifetimeUsage, TriggeredAlert, UsageThresholdCrossing

__all__ = ["Alert", "LifetimeUsage", "TriggeredAlert", "UsageThresholdCrossing"]
