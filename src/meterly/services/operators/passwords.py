"""Passwords, hashed with argon2id (argon2-cffi's defaults: its parameters travel in the hash)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from meterly.domain.errors import ValidationFailed

MIN_LENGTH = 10
MAX_LENGTH = 256
_HASHER = PasswordHasher()
# Verified against when the account does not exist, so an unknown e-mail takes as long as
# a wrong password and the timing does not tell which addresses have accounts.
_DUMMY = _HASHER.hash("meterly: no such account")


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValidationFailed.field("password", "value_is_too_short")
    if len(password) > MAX_LENGTH:
        raise ValidationFailed.field("password", "value_is_too_long")


def hash_password(password: str) -> str:
    check_strength(password)
    return _HASHER.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
