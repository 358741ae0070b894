"""The billing run: what the clock does (bill closed periods, finalize drafts, mark overdue,
expire, top up, check spend), for `meterly bill` and the worker; `fanout` shares one run
between several workers."""

from meterly.services.runs import fanout
from meterly.services.runs.billing_run import RunReport, run

__all__ = ["RunReport", "fanout", "run"]
