"""Exact decimal arithmetic for charge models.

Lago prices with Ruby BigDecimal, whose sums and products are exact. Python's default
context keeps only 28 significant digits, which would silently round a product like
123456789.123456789 × 0.000123456789. Every pricing computation therefore runs in a
context wide enough to stay exact, and the only inexact step, division, is done on
purpose with BigDecimal's precision (at least 32 significant digits, half up).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal, localcontext
from functools import wraps
from typing import ParamSpec, TypeVar

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)

# Wide enough that sums and products of realistic amounts never round.
EXACT = Context(prec=200, rounding=ROUND_HALF_UP, Emin=-999999, Emax=999999)
# BigDecimal division keeps 32 significant digits, the last one rounded.
DIVISION = Context(prec=32, rounding=ROUND_HALF_UP, Emin=-999999, Emax=999999)

P = ParamSpec("P")
R = TypeVar("R")


def exact(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` in the exact pricing context (nested calls stay exact)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with localcontext(EXACT):
            return func(*args, **kwargs)

    return wrapper


def divide(numerator: Decimal, denominator: Decimal) -> Decimal:
    """numerator / denominator like BigDecimal: 32 significant digits; 0 when dividing by 0."""
    if denominator == 0:
        return ZERO
    return DIVISION.divide(numerator, denominator)


def ceil_integer(value: Decimal) -> Decimal:
    """The smallest integer >= value (BigDecimal#ceil)."""
    return value.to_integral_value(rounding=ROUND_CEILING)


def plain(value: Decimal) -> Decimal:
    """Drop a negative zero so that -0 never leaks into explanations or details."""
    return ZERO if value == 0 else value
