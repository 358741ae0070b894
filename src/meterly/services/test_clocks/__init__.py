"""Test clocks (issue 18): a frozen instant per clock, customers living at its time, and an
advance that runs the billing clock at each due instant in between, for those customers
only. Sits above `runs` (it drives the billing run) and `payments` (dunning)."""

from meterly.services.test_clocks.advancing import AdvanceReport, advance, due_instants
from meterly.services.test_clocks.clocks import (
    ADVANCING,
    READY,
    create,
    customers_count,
    delete,
    find,
    list_page,
)

__all__ = [
    "ADVANCING",
    "READY",
    "AdvanceReport",
    "advance",
    "create",
    "customers_count",
    "delete",
    "due_instants",
    "find",
    "list_page",
]
