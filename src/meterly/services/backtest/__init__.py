"""Shadow billing: what a candidate plan (and candidate coupons) would have billed over a
window, re-priced from the real usage of every subscription the plan billed, storing nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from meterly.domain.errors import ValidationFailed
from meterly.services.backtest.candidate import (
    CandidateCoupon,
    CurrentPlan,
    parse_coupon,
    plan_json_coupons,
)
from meterly.services.backtest.candidate import load as load_candidate
from meterly.services.backtest.report import CSV_COLUMNS, BacktestReport
from meterly.services.backtest.repricing import Revenue, reprice
from meterly.services.catalog import plans
from meterly.services.common import Clock
from meterly.store.uow import Database


def backtest(
    database: Database,
    *,
    organization_id: str,
    plan_code: str,
    candidate: plans.PlanInput,
    coupons: Sequence[CandidateCoupon] = (),
    window_from: datetime,
    window_to: datetime,
    clock: Clock,
    on_batch: Callable[[int, int], None] | None = None,
) -> BacktestReport:
    """Re-price the plan's billed periods starting in [window_from, window_to) under
    `candidate`; each unit of work it opens is rolled back."""
    if window_to <= window_from:
        raise ValidationFailed.field("to", "value_is_invalid")
    current, plan = load_candidate(
        database,
        organization_id=organization_id,
        plan_code=plan_code,
        candidate=candidate,
        clock=clock,
    )
    rows = reprice(
        database,
        organization_id=organization_id,
        current=current,
        candidate=plan,
        coupons=coupons,
        window_from=window_from,
        window_to=window_to,
        on_batch=on_batch,
    )
    return BacktestReport(
        plan_code=current.code,
        currency=current.currency,
        window_from=window_from,
        window_to=window_to,
        customers=tuple(sorted(rows, key=lambda r: r.external_customer_id)),
    )


__all__ = [
    "CSV_COLUMNS",
    "BacktestReport",
    "CandidateCoupon",
    "CurrentPlan",
    "Revenue",
    "backtest",
    "parse_coupon",
    "plan_json_coupons",
]
