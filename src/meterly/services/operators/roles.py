"""Roles and what each may do.

A permission names a part of the dashboard that changes things. Reading is `read`; every
page that writes asks for one permission, and a role either holds it or not:

- admin: everything (users, API keys, settings, the catalogue included);
- finance: invoices, credit notes, payments, wallets and coupons;
- viewer: reading only.
"""

from __future__ import annotations

ROLES = ("admin", "finance", "viewer")
READ = "read"
ADMIN = "admin"
FINANCE_PERMISSIONS = frozenset({"invoices", "credit_notes", "payments", "wallets", "coupons"})

_GRANTS: dict[str, frozenset[str]] = {
    "finance": frozenset({READ}) | FINANCE_PERMISSIONS,
    "viewer": frozenset({READ}),
}


def allows(role: str, permission: str) -> bool:
    if role == "admin":
        return True
    return permission in _GRANTS.get(role, frozenset())
