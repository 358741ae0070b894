"""Invoicing: numbering and finalizing any invoice, and the document counters.

Below credits, so that a wallet's credit invoice and a credit note's number need nothing
of the billing engine above.
"""

from meterly.services.invoicing import numbering, snapshot
from meterly.services.invoicing.numbering import (
    HIDDEN_STATUSES,
    enqueue_webhook,
    finalize,
    next_sequence,
)

__all__ = [
    "HIDDEN_STATUSES",
    "enqueue_webhook",
    "finalize",
    "next_sequence",
    "numbering",
    "snapshot",
]
