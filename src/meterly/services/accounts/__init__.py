"""Accounts: organizations and their API keys and signing keys, customers, and reading
subscriptions (their terms, timezone and current period).

Also the per-batch cache of what every invoice of an organization reads alike
(`billing_cache`). Changing a subscription bills, so it lives above billing, in
`services.subscriptions`.
"""

from meterly.services.accounts import (
    billing_cache,
    billing_entities,
    customers,
    organizations,
    signing_keys,
    subscriptions,
)
from meterly.services.accounts.customers import applicable_timezone, customer_clock
from meterly.services.accounts.organizations import (
    ORGANIZATION_PROFILE_FIELDS,
    authenticate,
    cached_organization,
    create_api_key,
    create_organization,
    find_organization,
    hash_secret,
    revoke_api_key,
)
from meterly.services.accounts.subscriptions import (
    activate_pending,
    active,
    current_period,
    terms_of,
    timezone_of,
)

__all__ = [
    "ORGANIZATION_PROFILE_FIELDS",
    "activate_pending",
    "active",
    "applicable_timezone",
    "authenticate",
    "billing_cache",
    "billing_entities",
    "cached_organization",
    "create_api_key",
    "create_organization",
    "current_period",
    "customer_clock",
    "customers",
    "find_organization",
    "hash_secret",
    "organizations",
    "revoke_api_key",
    "signing_keys",
    "subscriptions",
    "terms_of",
    "timezone_of",
]
