"""Invitations: an admin invites an e-mail with a role; the link lets the invitee set a password.

The link carries a random secret (256 bits); only its sha256 is stored, so reading the
database does not let anyone accept an invitation. It expires (7 days by default), serves
once, and an admin can revoke it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.services.common import Clock, new_id
from meterly.services.operators.users import check_role, create_user, normalize_email
from meterly.store.tables import Invitation, User

INVITATION_LIFETIME = timedelta(days=7)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(
    session: Session,
    *,
    organization_id: str,
    email: str,
    role: str,
    invited_by: str | None,
    clock: Clock,
) -> tuple[Invitation, str]:
    """The invitation and the secret of its link (shown once, never stored)."""
    address = normalize_email(email)
    check_role(role)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise ValidationFailed.field("email", "value_already_exist")
    now = clock.now()
    token = secrets.token_urlsafe(32)
    row = Invitation(
        id=new_id(),
        organization_id=organization_id,
        email=address,
        role=role,
        token_hash=_digest(token),
        invited_by=invited_by,
        expires_at=now + INVITATION_LIFETIME,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, token


def pending_invitations(
    session: Session, *, organization_id: str, clock: Clock
) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.organization_id == organization_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > clock.now(),
            )
            .order_by(Invitation.created_at)
        )
    )


def open_invitation(session: Session, *, token: str, clock: Clock) -> Invitation:
    """The invitation of a link still valid; NotFound for any other (unknown, used, expired)."""
    row = session.scalar(select(Invitation).where(Invitation.token_hash == _digest(token)))
    if (
        row is None
        or row.accepted_at is not None
        or row.revoked_at is not None
        or row.expires_at <= clock.now()
    ):
        raise NotFound("invite")
    return row


def accept(session: Session, *, token: str, password: str, clock: Clock) -> User:
    row = open_invitation(session, token=token, clock=clock)
    user = create_user(
        session,
        organization_id=row.organization_id,
        email=row.email,
        password=password,
        role=row.role,
        clock=clock,
    )
    row.accepted_at = clock.now()
    return user


def revoke(session: Session, *, organization_id: str, invitation_id: str, clock: Clock) -> None:
    row = session.get(Invitation, invitation_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound("invite")
    if row.accepted_at is not None:
        raise NotAllowed("invite_accepted")
    row.revoked_at = clock.now()
