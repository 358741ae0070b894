"""The candidate price list of a backtest: a plan built by the catalog's own rules, then
thrown away, and candidate coupons.

The candidate plan is created with `catalog.plans.create` (so it is validated exactly as a
real plan would be: charge models, properties, filters, metrics) in a transaction that is
always rolled back. Before the rollback every attribute pricing needs is loaded and the
rows are detached, so what the backtest holds afterwards are plain, unsaved objects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from meterly.domain.errors import ValidationFailed
from meterly.domain.periods import BillingPeriod
from meterly.services.catalog import plans
from meterly.services.common import Clock, new_id
from meterly.services.metering import charge_requests, has_grouped_buckets
from meterly.store.tables import Charge, Plan
from meterly.store.uow import Database

COUPON_TYPES = ("fixed_amount", "percentage")
FREQUENCIES = ("once", "recurring", "forever")


@dataclass(frozen=True, slots=True)
class CandidateCoupon:
    """A coupon applied to every re-priced subscription (Lago's coupon terms).

    `fixed_amount`: `amount_cents` off; `once` spends it over the periods until used up,
    `recurring` takes it off each of the first `frequency_duration` periods, `forever` off
    every period. `percentage`: `percentage_rate` % of each applicable period's fees.
    """

    code: str
    coupon_type: str
    amount_cents: int = 0
    percentage_rate: Decimal = Decimal(0)
    frequency: str = "once"
    frequency_duration: int | None = None


@dataclass(frozen=True, slots=True)
class CurrentPlan:
    id: str
    code: str
    interval: str
    amount_cents: int
    currency: str
    bill_charges_monthly: bool


@dataclass(frozen=True, slots=True)
class CandidatePlan:
    """Unsaved: `charges` are detached rows carrying their metric and filters."""

    amount_cents: int
    charges: tuple[Charge, ...]


def parse_coupon(raw: object, index: int) -> CandidateCoupon:
    """A coupon from Lago's JSON shape (`coupon_type`, `amount_cents`, `percentage_rate`,
    `frequency`, `frequency_duration`); bad terms are a 422 naming the coupon."""
    name = f"coupons[{index}]"
    if not isinstance(raw, dict):
        raise ValidationFailed.field(name, "value_is_invalid")
    kind = raw.get("coupon_type")
    frequency = raw.get("frequency") or "once"
    if kind not in COUPON_TYPES:
        raise ValidationFailed.field(f"{name}.coupon_type", "value_is_invalid")
    if frequency not in FREQUENCIES:
        raise ValidationFailed.field(f"{name}.frequency", "value_is_invalid")
    duration = raw.get("frequency_duration")
    if frequency == "recurring" and (not isinstance(duration, int) or duration < 1):
        raise ValidationFailed.field(f"{name}.frequency_duration", "value_is_invalid")
    amount = raw.get("amount_cents") or 0
    if kind == "fixed_amount" and (not isinstance(amount, int) or amount <= 0):
        raise ValidationFailed.field(f"{name}.amount_cents", "value_is_invalid")
    rate = Decimal(0)
    if kind == "percentage":
        try:
            rate = Decimal(str(raw.get("percentage_rate")))
        except InvalidOperation:
            raise ValidationFailed.field(f"{name}.percentage_rate", "value_is_invalid") from None
        if not rate.is_finite() or not Decimal(0) < rate <= Decimal(100):
            raise ValidationFailed.field(f"{name}.percentage_rate", "value_is_invalid")
    return CandidateCoupon(
        code=str(raw.get("code") or f"candidate_{index}"),
        coupon_type=str(kind),
        amount_cents=int(amount) if kind == "fixed_amount" else 0,
        percentage_rate=rate,
        frequency=str(frequency),
        frequency_duration=duration if frequency == "recurring" else None,
    )


def load(
    database: Database,
    *,
    organization_id: str,
    plan_code: str,
    candidate: plans.PlanInput,
    clock: Clock,
) -> tuple[CurrentPlan, CandidatePlan]:
    """The plan being replaced and the candidate, validated; nothing is stored.

    The candidate keeps the current plan's interval, currency and charges period (a
    backtest re-prices the periods that were billed; other periods were never billed).
    Missing name, interval, currency and amount are taken from the current plan.
    """
    with database.sessions() as session:
        session.begin()
        try:
            row = plans.find(session, organization_id=organization_id, code=plan_code)
            current = CurrentPlan(
                id=row.id,
                code=row.code,
                interval=row.interval,
                amount_cents=row.amount_cents,
                currency=row.amount_currency,
                bill_charges_monthly=bool(row.bill_charges_monthly),
            )
            _check_compatible(current, candidate)
            data = replace(
                candidate,
                # A code no real plan holds: the row lives only until the rollback below.
                code=f"backtest-{new_id()}",
                name=candidate.name or row.name,
                interval=current.interval,
                amount_currency=current.currency,
                amount_cents=row.amount_cents
                if candidate.amount_cents is None
                else candidate.amount_cents,
                bill_charges_monthly=current.bill_charges_monthly
                if current.interval in ("yearly", "semiannual")
                else None,
                usage_thresholds=None,
                minimum_commitment=None,
                metadata=None,
            )
            built = plans.create(
                session,
                organization_id=organization_id,
                data=data,
                clock=clock,
            )
            charges = _loaded_charges(built)
            amount = built.amount_cents
            session.expunge_all()
        finally:
            session.rollback()
    return current, CandidatePlan(amount_cents=amount, charges=charges)


def _check_compatible(current: CurrentPlan, candidate: plans.PlanInput) -> None:
    errors: dict[str, list[str]] = {}
    if candidate.interval and candidate.interval != current.interval:
        errors["interval"] = ["must_match_current_plan"]
    if candidate.amount_currency and candidate.amount_currency.upper() != current.currency:
        errors["amount_currency"] = ["must_match_current_plan"]
    if errors:
        raise ValidationFailed(errors)


def _loaded_charges(plan: Plan) -> tuple[Charge, ...]:
    """The candidate's in-arrears charges with every attribute pricing reads loaded.

    Building one usage request per charge reads the metric, its filters and the charge's
    filters: after it, the detached rows answer without a session.
    """
    probe = BillingPeriod(datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 31, tzinfo=UTC))
    charges: list[Charge] = []
    grouped: list[str] = []
    for charge in plan.charges:
        charge_requests(charge, window=probe, recurring_from=None, full_period_days=31)
        for charge_filter in charge.filters:
            _ = charge_filter.properties
        if charge.pay_in_advance or charge.billable_metric.deleted_at is not None:
            continue
        if has_grouped_buckets(charge):
            grouped.append(charge.code)
        charges.append(charge)
    if grouped:
        # The batch read aggregates plain buckets; grouped ones would need a read per
        # subscription, which a backtest of the whole book must not do.
        raise ValidationFailed.field("charges", "grouped_charges_not_supported_in_backtest")
    return tuple(charges)


def plan_json_coupons(body: dict[str, Any]) -> list[CandidateCoupon]:
    raw = body.get("coupons") or []
    if not isinstance(raw, list):
        raise ValidationFailed.field("coupons", "value_is_invalid")
    return [parse_coupon(item, i) for i, item in enumerate(raw)]
