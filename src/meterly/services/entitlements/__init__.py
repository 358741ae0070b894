"""Entitlements: features with typed privileges, what plans grant, what subscriptions
override, and the access check ("may this customer use feature X now?") that combines them
with metered usage limits and the prepaid balance."""

from meterly.services.entitlements import access, features, grants
from meterly.services.entitlements.access import AccessCheck
from meterly.services.entitlements.features import FeatureInput
from meterly.services.entitlements.grants import Grant, SubscriptionGrant

__all__ = [
    "AccessCheck",
    "FeatureInput",
    "Grant",
    "SubscriptionGrant",
    "access",
    "features",
    "grants",
]
