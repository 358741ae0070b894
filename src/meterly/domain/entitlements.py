"""Features and entitlements: what a plan grants, what a subscription overrides, and
whether a customer may use a feature now.

A feature (`seats`, `sso`) has privileges, each with a value type: integer, boolean,
string or select (one of a list of options). A plan grants a feature with a value for
some of its privileges; a subscription may override those values or remove the feature.
The resolved value of a privilege is the override when there is one, else the plan's.

Meterly goes one step further than Lago (as OpenMeter does): an integer privilege may
name a billable metric, and then it is a usage limit. `decide` combines the entitlement,
the period's usage against such limits, and (when asked) the customer's prepaid balance
into one answer: may this customer use the feature now?
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from meterly.domain.errors import ValidationFailed

PrivilegeValue = int | bool | str


class ValueType(StrEnum):
    INTEGER = "integer"
    BOOLEAN = "boolean"
    STRING = "string"
    SELECT = "select"


# Lago's bounds on the feature object: codes and names 255 characters, descriptions 600.
MAX_CODE = 255
MAX_DESCRIPTION = 600
# An integer privilege is a count (seats, projects, requests): bounded like Lago's integers.
MAX_INTEGER = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Privilege:
    code: str
    value_type: ValueType
    select_options: tuple[str, ...] = ()
    # Meterly's extension: an integer privilege naming a metric is a usage limit.
    billable_metric_code: str | None = None


def value_type(raw: object, *, field: str = "value_type") -> ValueType:
    """Lago's default value type is string."""
    if raw is None:
        return ValueType.STRING
    try:
        return ValueType(str(raw))
    except ValueError:
        raise ValidationFailed.field(field, "value_is_invalid") from None


def coerce(privilege: Privilege, raw: object, *, field: str) -> PrivilegeValue:
    """The value a plan or subscription gives a privilege, checked against its type.

    JSON clients send integers as numbers; numeric strings are accepted as Lago's Rails
    parameters are. Booleans never pass for integers (JSON `true` is not 1).
    """
    kind = privilege.value_type
    if kind is ValueType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise ValidationFailed.field(field, "value_is_invalid")
    if kind is ValueType.INTEGER:
        if isinstance(raw, bool):
            raise ValidationFailed.field(field, "value_is_invalid")
        if isinstance(raw, int):
            number = raw
        elif isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
            number = int(raw.strip())
        else:
            raise ValidationFailed.field(field, "value_is_invalid")
        if not -MAX_INTEGER <= number <= MAX_INTEGER:
            raise ValidationFailed.field(field, "value_is_out_of_range")
        return number
    if not isinstance(raw, str):
        raise ValidationFailed.field(field, "value_is_invalid")
    if kind is ValueType.SELECT and raw not in privilege.select_options:
        raise ValidationFailed.field(field, "value_is_not_an_option")
    return raw


@dataclass(frozen=True, slots=True)
class ResolvedPrivilege:
    code: str
    value: PrivilegeValue | None
    plan_value: PrivilegeValue | None
    override_value: PrivilegeValue | None


def resolve(
    privileges: Sequence[Privilege],
    plan_values: Mapping[str, PrivilegeValue] | None,
    overrides: Mapping[str, PrivilegeValue] | None,
) -> list[ResolvedPrivilege]:
    """Each privilege the plan or the subscription gives a value, in the feature's order."""
    plan_values = plan_values or {}
    overrides = overrides or {}
    resolved = []
    for privilege in privileges:
        plan_value = plan_values.get(privilege.code)
        override = overrides.get(privilege.code)
        if plan_value is None and override is None:
            continue
        value = override if override is not None else plan_value
        resolved.append(ResolvedPrivilege(privilege.code, value, plan_value, override))
    return resolved


class Refusal(StrEnum):
    NO_ACTIVE_SUBSCRIPTION = "no_active_subscription"
    NOT_ENTITLED = "not_entitled"
    DISABLED = "disabled"
    LIMIT_REACHED = "limit_reached"
    WALLET_EMPTY = "wallet_empty"


@dataclass(frozen=True, slots=True)
class LimitUse:
    """A usage limit: the privilege's value against the metric's units this period."""

    privilege_code: str
    billable_metric_code: str
    limit: int
    # None when the plan does not charge the metric: its usage is not metered here.
    usage: Decimal | None

    @property
    def remaining(self) -> Decimal | None:
        return None if self.usage is None else max(Decimal(self.limit) - self.usage, Decimal(0))

    @property
    def reached(self) -> bool:
        return self.usage is not None and self.usage >= self.limit


@dataclass(frozen=True, slots=True)
class Decision:
    has_access: bool
    reason: Refusal | None


def decide(
    *,
    entitled: bool,
    privileges: Iterable[ResolvedPrivilege],
    limits: Iterable[LimitUse],
    prepaid_balance_cents: int | None = None,
) -> Decision:
    """May the customer use the feature now? The first reason to refuse wins, in order:
    not granted at all, a boolean privilege switched off, a usage limit reached, and (when
    the caller asks for a prepaid balance) no balance left in any active wallet.
    """
    if not entitled:
        return Decision(False, Refusal.NOT_ENTITLED)
    if any(p.value is False for p in privileges):
        return Decision(False, Refusal.DISABLED)
    if any(limit.reached for limit in limits):
        return Decision(False, Refusal.LIMIT_REACHED)
    if prepaid_balance_cents is not None and prepaid_balance_cents <= 0:
        return Decision(False, Refusal.WALLET_EMPTY)
    return Decision(True, None)
