"""The RSA key that signs JWT webhooks, created once per installation and kept in the store.

Lago signs webhooks with RS256 by default (`X-Lago-Signature-Algorithm: jwt`) and hands the
public key out at `GET /webhooks/json_public_key`. Every Meterly process (API and workers)
reads the same key from the database; the first to need it creates it.
"""

from __future__ import annotations

import base64
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterly.services.common import Clock
from meterly.store.tables import SigningKey

WEBHOOK_KEY = "webhook_rs256"


def webhook_private_pem(session: Session, *, clock: Clock) -> str:
    row = session.get(SigningKey, WEBHOOK_KEY)
    if row is not None:
        return row.private_pem
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    try:
        with session.begin_nested():
            session.add(SigningKey(name=WEBHOOK_KEY, private_pem=pem, created_at=clock.now()))
            session.flush()
    except IntegrityError:  # another process created it first: use theirs
        existing = session.get(SigningKey, WEBHOOK_KEY)
        assert existing is not None
        return existing.private_pem
    return pem


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def webhook_public_key_b64(session: Session, *, clock: Clock) -> str:
    """What Lago's `json_public_key` answers: the public key's PEM, Base64-encoded."""
    pem = public_pem(webhook_private_pem(session, clock=clock))
    return base64.b64encode(pem.encode()).decode()


def sign_webhook(body: bytes, *, private_pem: str, issuer: str) -> str:
    """RS256 JWT over `{"data": <the exact body>, "iss": <this Meterly's URL>}` (Lago's claims)."""
    claims: dict[str, Any] = {"data": body.decode(), "iss": issuer}
    return jwt.encode(claims, private_pem, algorithm="RS256")
