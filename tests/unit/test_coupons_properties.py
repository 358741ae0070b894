"""Properties of the pro-rata spread used by coupons and credits."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.coupons import allocate_pro_rata

weights = st.lists(st.decimals(min_value=0, max_value=10_000_000, places=5), max_size=8)


@settings(max_examples=500, deadline=None)
@given(weights, st.integers(0, 20_000_000))
def test_shares_never_exceed_weights_and_sum_to_the_capped_amount(
    ws: list[Decimal], amount: int
) -> None:
    shares = allocate_pro_rata(amount=Decimal(amount), weights=ws)
    assert len(shares) == len(ws)
    assert all(Decimal(0) <= s <= w for s, w in zip(shares, ws, strict=True))
    assert sum(shares, Decimal(0)) == min(Decimal(amount), sum(ws, Decimal(0)))
    assert all(s == s.quantize(Decimal("0.00001")) for s in shares)
