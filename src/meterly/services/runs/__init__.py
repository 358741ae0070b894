"""The billing run: what the clock does (bill closed periods, finalize drafts, mark overdue,
expire, top up, check spend), for `meterly bill` and the worker."""

from meterly.services.runs.billing_run import RunReport, run

__all__ = ["RunReport", "run"]
