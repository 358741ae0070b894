"""A backtest's candidate on the wire: Lago's plan object, and candidate coupons."""

from __future__ import annotations

from typing import Any

from meterly.api.http import parse, root
from meterly.api.schemas.plans import PlanIn, plan_input
from meterly.services import backtest
from meterly.services.catalog import plans


def candidate(body: Any) -> tuple[plans.PlanInput, list[backtest.CandidateCoupon]]:
    """`{"plan": {...}, "coupons": [...]}`: the plan as `POST /plans` takes it (its code is
    ignored: nothing is created), coupons as `POST /coupons` describes their terms.

    A plan as `GET /plans/{code}` answers it is taken too: its charges name their metric
    `lago_billable_metric_id`, so the current plan can be sent back as its own candidate.
    """
    raw = dict(root(body, "plan"))
    if isinstance(raw.get("charges"), list):
        raw["charges"] = [_metric_id(c) for c in raw["charges"]]
    data = plan_input(parse(PlanIn, raw))
    return data, backtest.plan_json_coupons(body)


def _metric_id(charge: Any) -> Any:
    if isinstance(charge, dict) and "billable_metric_id" not in charge:
        return {**charge, "billable_metric_id": charge.get("lago_billable_metric_id")}
    return charge
