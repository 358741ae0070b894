"""Signing in with an e-mail and a password, with brute-force protection.

Failed attempts are counted over a sliding window per account (the e-mail typed, known
or not) and per client address. Past either limit, sign-in is refused for that account or
address, even with the right password, until enough failures age out of the window.
Attempts refused while locked are not counted, so a lockout ends on time whatever an
attacker keeps sending. A successful sign-in clears the account's failures.

Limits: METERLY_SIGNIN_MAX_FAILURES (per account, default 5),
METERLY_SIGNIN_MAX_FAILURES_PER_ADDRESS (default 20), METERLY_SIGNIN_WINDOW_MINUTES
(default 15).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from meterly.services.common import Clock, new_id
from meterly.services.operators.passwords import verify
from meterly.services.operators.users import find_by_email
from meterly.store.tables import SignInFailure, User


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_env(cls) -> LockoutPolicy:
        def number(name: str, default: int) -> int:
            try:
                return max(int(os.environ.get(name, "") or default), 1)
            except ValueError:
                return default

        return cls(
            per_account=number("METERLY_SIGNIN_MAX_FAILURES", 5),
            per_address=number("METERLY_SIGNIN_MAX_FAILURES_PER_ADDRESS", 20),
            window=timedelta(minutes=number("METERLY_SIGNIN_WINDOW_MINUTES", 15)),
        )


@dataclass(frozen=True, slots=True)
class SignInResult:
    user: User | None
    # Set when refused for too many failures: when the caller may try again.
    locked_until: datetime | None = None

    def wait_minutes(self, now: datetime) -> int:
        if self.locked_until is None:
            return 0
        return max(math.ceil((self.locked_until - now).total_seconds() / 60), 1)


def _unlocks_at(
    session: Session,
    column: InstrumentedAttribute[str],
    value: str,
    now: datetime,
    policy: LockoutPolicy,
    limit: int,
) -> datetime | None:
    stamps = list(
        session.scalars(
            select(SignInFailure.failed_at)
            .where(column == value, SignInFailure.failed_at > now - policy.window)
            .order_by(SignInFailure.failed_at)
        )
    )
    if len(stamps) < limit:
        return None
    # Unlocked once only limit-1 failures remain in the window.
    return stamps[len(stamps) - limit] + policy.window


def sign_in(
    session: Session,
    *,
    email: str,
    password: str,
    address: str,
    clock: Clock,
    policy: LockoutPolicy,
) -> SignInResult:
    account = email.strip().lower()[:255]
    address = address[:64]
    now = clock.now()
    locks = [
        _unlocks_at(session, SignInFailure.account, account, now, policy, policy.per_account),
        _unlocks_at(session, SignInFailure.address, address, now, policy, policy.per_address),
    ]
    locked = [t for t in locks if t is not None]
    if locked:
        return SignInResult(user=None, locked_until=max(locked))
    user = find_by_email(session, account)
    if verify(user.password_hash if user else None, password) and user is not None:
        session.execute(delete(SignInFailure).where(SignInFailure.account == account))
        return SignInResult(user=user)
    session.add(SignInFailure(id=new_id(), account=account, address=address, failed_at=now))
    session.flush()
    return SignInResult(user=None)
