"""Coupons and add-ons at their old path, for its importers; the tables are in `tables.coupons`."""

from meterly.store.tables.coupons import AddOnRow, AppliedCouponRow, CouponCredit, CouponRow

__all__ = ["AddOnRow", "AppliedCouponRow", "CouponCredit", "CouponRow"]
