"""Operators: the people who run an organization from the dashboard.

Accounts (e-mail, argon2 password, role admin | finance | viewer), invitations by signed
link, sign-in with brute-force lockout, and "sign out everywhere" (a per-user session
epoch). `roles.allows(role, permission)` is the one rule the dashboard enforces.
"""

from meterly.services.operators.invitations import (
    INVITATION_LIFETIME,
    accept,
    invite,
    open_invitation,
    pending_invitations,
    revoke,
)
from meterly.services.operators.lockout import LockoutPolicy, SignInResult, sign_in
from meterly.services.operators.passwords import MIN_LENGTH, check_strength
from meterly.services.operators.roles import ADMIN, FINANCE_PERMISSIONS, READ, ROLES, allows
from meterly.services.operators.users import (
    change_role,
    create_user,
    find_by_email,
    find_user,
    list_users,
    normalize_email,
    remove_user,
    set_password,
    sign_out_everywhere,
)

__all__ = [
    "ADMIN",
    "FINANCE_PERMISSIONS",
    "INVITATION_LIFETIME",
    "MIN_LENGTH",
    "READ",
    "ROLES",
    "LockoutPolicy",
    "SignInResult",
    "accept",
    "allows",
    "change_role",
    "check_strength",
    "create_user",
    "find_by_email",
    "find_user",
    "invite",
    "list_users",
    "normalize_email",
    "open_invitation",
    "pending_invitations",
    "remove_user",
    "revoke",
    "set_password",
    "sign_in",
    "sign_out_everywhere",
]
