"""The rules of features and entitlements (domain/entitlements.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterly.domain.entitlements import (
    LimitUse,
    Privilege,
    Refusal,
    ResolvedPrivilege,
    ValueType,
    coerce,
    decide,
    resolve,
    value_type,
)
from meterly.domain.errors import ValidationFailed

SEATS = Privilege("max", ValueType.INTEGER)
ROOT = Privilege("root", ValueType.BOOLEAN)
LABEL = Privilege("label", ValueType.STRING)
SSO = Privilege("provider", ValueType.SELECT, ("google", "okta"))


def test_lagos_default_value_type_is_string() -> None:
    assert value_type(None) is ValueType.STRING
    with pytest.raises(ValidationFailed):
        value_type("float")


@pytest.mark.parametrize(
    ("privilege", "raw", "expected"),
    [
        (SEATS, 10, 10),
        (SEATS, "12", 12),  # Rails parameters arrive as strings
        (ROOT, True, True),
        (ROOT, "false", False),
        (LABEL, "gold", "gold"),
        (SSO, "okta", "okta"),
    ],
)
def test_values_of_each_type_are_accepted(
    privilege: Privilege, raw: object, expected: object
) -> None:
    assert coerce(privilege, raw, field="v") == expected


@pytest.mark.parametrize(
    ("privilege", "raw", "code"),
    [
        (SEATS, True, "value_is_invalid"),  # JSON true is not the integer 1
        (SEATS, 1.5, "value_is_invalid"),
        (SEATS, 2**31, "value_is_out_of_range"),
        (ROOT, 1, "value_is_invalid"),
        (LABEL, 3, "value_is_invalid"),
        (SSO, "azure", "value_is_not_an_option"),
    ],
)
def test_values_of_the_wrong_type_are_refused(privilege: Privilege, raw: object, code: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        coerce(privilege, raw, field="v")
    assert refused.value.details == {"v": [code]}


def test_an_override_wins_and_the_plan_value_shows_beside_it() -> None:
    resolved = resolve(
        [SEATS, ROOT, SSO], {"max": 10, "root": True}, {"max": 15, "provider": "okta"}
    )
    assert resolved == [
        ResolvedPrivilege("max", 15, 10, 15),
        ResolvedPrivilege("root", True, True, None),
        ResolvedPrivilege("provider", "okta", None, "okta"),
    ]


@given(
    plan=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 100)),
    overrides=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 100)),
)
def test_resolution_is_the_override_else_the_plan(
    plan: dict[str, int], overrides: dict[str, int]
) -> None:
    privileges = [Privilege(code, ValueType.INTEGER) for code in "abc"]
    resolved = {r.code: r for r in resolve(privileges, plan, overrides)}
    assert set(resolved) == set(plan) | set(overrides)
    for code, r in resolved.items():
        assert r.value == overrides.get(code, plan.get(code))
        assert (r.plan_value, r.override_value) == (plan.get(code), overrides.get(code))


def test_the_first_reason_to_refuse_wins() -> None:
    on = [ResolvedPrivilege("root", True, True, None)]
    off = [ResolvedPrivilege("root", False, True, False)]
    # 100 calls allowed, 100 used: the limit is reached (usage >= limit).
    full = [LimitUse("max", "api_calls", 100, Decimal(100))]
    room = [LimitUse("max", "api_calls", 100, Decimal("99.5"))]
    assert decide(entitled=False, privileges=[], limits=[]).reason is Refusal.NOT_ENTITLED
    assert decide(entitled=True, privileges=off, limits=full).reason is Refusal.DISABLED
    assert decide(entitled=True, privileges=on, limits=full).reason is Refusal.LIMIT_REACHED
    assert (
        decide(entitled=True, privileges=on, limits=room, prepaid_balance_cents=0).reason
        is Refusal.WALLET_EMPTY
    )
    granted = decide(entitled=True, privileges=on, limits=room, prepaid_balance_cents=1)
    assert granted.has_access and granted.reason is None
    # 100 - 99.5 = 0.5 calls left
    assert room[0].remaining == Decimal("0.5")


def test_a_limit_on_a_metric_the_plan_does_not_charge_never_refuses() -> None:
    unknown = LimitUse("max", "api_calls", 0, None)
    assert not unknown.reached and unknown.remaining is None
    assert decide(entitled=True, privileges=[], limits=[unknown]).has_access
