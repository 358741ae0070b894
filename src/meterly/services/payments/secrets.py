"""Provider secrets encrypted at rest with the installation's secret key.

A provider's secret key moves money: it is stored encrypted (Fernet: AES-128-CBC with an
HMAC-SHA256 tag) under a key derived from `METERLY_SECRET_KEY`, never in clear, and no API
answers it. After a rotation the previous secrets (`METERLY_SECRET_KEY_PREVIOUS`) still
decrypt, so stored connections keep working until they are saved again.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# Derivation context: the same installation secret also signs links, and a key derived
# for one purpose must not be usable for another.
_CONTEXT = b"meterly/payments/provider-secrets:"


def _fernet(secret: str) -> Fernet:
    digest = hashlib.sha256(_CONTEXT + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(value: str, *, keys: tuple[str, ...]) -> str:
    """Encrypted under the current key (the first of `keys`)."""
    return _fernet(keys[0]).encrypt(value.encode()).decode()


def decrypt(token: str, *, keys: tuple[str, ...]) -> str:
    """Clear text, trying the current key then the previous ones."""
    try:
        return MultiFernet([_fernet(k) for k in keys]).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("a provider secret does not decrypt with the configured keys") from None
