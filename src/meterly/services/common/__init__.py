"""What every capability shares: the clock (real or frozen) and identifiers."""

from meterly.services.common.clock import Clock, FrozenClock, clock_for
from meterly.services.common.ids import new_id

__all__ = ["Clock", "FrozenClock", "clock_for", "new_id"]
