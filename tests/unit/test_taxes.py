"""Tax precedence and tax amounts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterly.domain.errors import ValidationFailed
from meterly.domain.taxes import Tax, applicable_taxes, invoice_applied_taxes, tax_fee

ORG = (Tax(code="org", name="Org", rate=Decimal("20")),)
CUSTOMER = (Tax(code="cus", name="Customer", rate=Decimal("10")),)
PLAN = (Tax(code="plan", name="Plan", rate=Decimal("5")),)
CHARGE = (Tax(code="charge", name="Charge", rate=Decimal("2")),)
ALL = {"organization": ORG, "customer": CUSTOMER, "plan": PLAN, "charge_or_addon": CHARGE}


def codes(taxes: tuple[Tax, ...]) -> list[str]:
    return [t.code for t in taxes]


def test_charge_taxes_win_for_a_charge_fee() -> None:
    assert codes(applicable_taxes(fee_type="charge", **ALL)) == ["charge"]


def test_plan_taxes_when_the_charge_has_none() -> None:
    assert codes(
        applicable_taxes(fee_type="charge", organization=ORG, customer=CUSTOMER, plan=PLAN)
    ) == ["plan"]


def test_subscription_fee_ignores_charge_level() -> None:
    assert codes(applicable_taxes(fee_type="subscription", **ALL)) == ["plan"]


def test_customer_then_organization() -> None:
    assert codes(
        applicable_taxes(fee_type="subscription", organization=ORG, customer=CUSTOMER)
    ) == ["cus"]
    assert codes(applicable_taxes(fee_type="subscription", organization=ORG)) == ["org"]


def test_add_on_fee_never_inherits_plan_taxes() -> None:
    assert codes(
        applicable_taxes(fee_type="add_on", organization=ORG, customer=CUSTOMER, plan=PLAN)
    ) == ["cus"]
    assert codes(applicable_taxes(fee_type="add_on", **ALL)) == ["charge"]


def test_commitment_uses_its_own_then_plan() -> None:
    assert codes(applicable_taxes(fee_type="commitment", **ALL)) == ["charge"]
    assert codes(applicable_taxes(fee_type="commitment", plan=PLAN, customer=CUSTOMER)) == ["plan"]


def test_credit_fee_uses_customer_then_org() -> None:
    assert codes(applicable_taxes(fee_type="credit", **ALL)) == ["cus"]


def test_explicit_tax_codes_win() -> None:
    explicit = (Tax(code="x", name="X", rate=Decimal(1)),)
    assert codes(applicable_taxes(fee_type="add_on", explicit=explicit, **ALL)) == ["x"]


def test_unknown_fee_type_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        applicable_taxes(fee_type="bogus")


def test_negative_rate_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        Tax(code="n", name="N", rate=Decimal("-1"))


def test_fee_tax_keeps_precise_and_rounds_the_sum() -> None:
    taxes = (
        Tax(code="a", name="A", rate=Decimal("20")),
        Tax(code="b", name="B", rate=Decimal("5.5")),
    )
    # base 4166.66666: 833.333332 + 229.1666663 = 1062.4999983 → 1062
    ft = tax_fee(base_amount_cents=Decimal("4166.66666"), taxes=taxes)
    assert ft.precise_amount_cents == Decimal("1062.4999983")
    assert ft.amount_cents == 1062
    assert ft.taxes_rate == Decimal("25.5")
    assert [a.amount_cents for a in ft.applied] == [833, 229]


def test_invoice_sums_unrounded_then_rounds_half_up() -> None:
    t = Tax(code="t", name="T", rate=Decimal("10"))
    # 0.25 + 0.25 → 0.5 → 1 (per fee each would round to 0)
    per_fee = [tax_fee(base_amount_cents=Decimal("2.5"), taxes=(t,)) for _ in range(2)]
    assert [f.amount_cents for f in per_fee] == [0, 0]
    (applied,) = invoice_applied_taxes(per_fee)
    assert applied.precise_amount_cents == Decimal("0.5")
    assert applied.amount_cents == 1
    assert applied.base_amount_cents == 5


def test_duplicate_taxes_count_once() -> None:
    t = Tax(code="t", name="T", rate=Decimal("10"))
    assert tax_fee(base_amount_cents=Decimal(100), taxes=(t, t)).amount_cents == 10
