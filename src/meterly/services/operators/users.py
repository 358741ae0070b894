"""Operator accounts: create, list, change role, remove, and sign out everywhere."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.services.common import Clock, new_id
from meterly.services.operators.passwords import hash_password
from meterly.services.operators.roles import ROLES
from meterly.store.tables import Organization, User

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if not _EMAIL.match(value) or len(value) > 255:
        raise ValidationFailed.field("email", "invalid_email")
    return value


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationFailed.field("role", "invalid_role")
    return role


def create_user(
    session: Session, *, organization_id: str, email: str, password: str, role: str, clock: Clock
) -> User:
    address = normalize_email(email)
    check_role(role)
    if session.get(Organization, organization_id) is None:
        raise NotFound("organization")
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise ValidationFailed.field("email", "value_already_exist")
    now = clock.now()
    user = User(
        id=new_id(),
        organization_id=organization_id,
        email=address,
        password_hash=hash_password(password),
        role=role,
        session_epoch=0,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    return user


def list_users(session: Session, *, organization_id: str) -> list[User]:
    return list(
        session.scalars(
            select(User).where(User.organization_id == organization_id).order_by(User.email)
        )
    )


def find_user(session: Session, *, organization_id: str, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.organization_id != organization_id:
        raise NotFound("user")
    return user


def find_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def _admins(session: Session, organization_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.organization_id == organization_id, User.role == "admin")
        )
        or 0
    )


def change_role(session: Session, *, user: User, role: str, clock: Clock) -> User:
    check_role(role)
    if user.role == "admin" and role != "admin" and _admins(session, user.organization_id) <= 1:
        # The API key still signs in, but an organization's people need one admin to manage them.
        raise NotAllowed("last_admin", "The last admin cannot lose the admin role.")
    if user.role != role:
        user.role = role
        # A new role takes effect now: sessions issued under the old one end.
        user.session_epoch += 1
        user.updated_at = clock.now()
    return user


def remove_user(session: Session, *, user: User) -> None:
    if user.role == "admin" and _admins(session, user.organization_id) <= 1:
        raise NotAllowed("last_admin", "The last admin cannot be removed.")
    session.delete(user)
    session.flush()


def sign_out_everywhere(user: User, *, clock: Clock) -> None:
    """End every session of this user: cookies carry the epoch they were issued in."""
    user.session_epoch += 1
    user.updated_at = clock.now()


def set_password(user: User, password: str, *, clock: Clock) -> None:
    user.password_hash = hash_password(password)
    # A new password ends the sessions opened with the old one.
    user.session_epoch += 1
    user.updated_at = clock.now()
