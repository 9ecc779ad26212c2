"""Signed, expiring tokens for links in messages: no sequential ids in any URL.

A token is ``<subject>.<expiry>.<signature>``: the subject is a random public
id (an episode's), the expiry a Unix time in base 36, and the signature an
HMAC-SHA256 over purpose, subject and expiry. The purpose ("answer",
"unsubscribe") is part of what is signed but not of the token, so a token made
for one purpose is worthless for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

SIGNATURE_CHARS = 27  # 160 bits of the HMAC, base64url


class BadToken(ValueError):
    """Expired, tampered with, or unknown: deliberately one error for all three."""


class Signer:
    """Tokens of one secret and purpose: the HMAC of ``f"{purpose}:{payload}"``, with the key and
    the purpose's prefix hashed once and copied per token (the hand-off signs thousands)."""

    def __init__(self, secret: str, purpose: str) -> None:
        self._keyed = hmac.new(secret.encode(), f"{purpose}:".encode(), hashlib.sha256)

    def signature(self, payload: str) -> str:
        mac = self._keyed.copy()
        mac.update(payload.encode())
        return base64.urlsafe_b64encode(mac.digest()).decode()[:SIGNATURE_CHARS]

    def token(self, subject: str, expiry: str) -> str:
        """``expiry`` as ``token_expiry`` writes it."""
        payload = f"{subject}.{expiry}"
        return f"{payload}.{self.signature(payload)}"


def signatures_match(given: str, expected: str) -> bool:
    """``hmac.compare_digest`` for text from a request: it raises TypeError for a ``str``
    with a non-ASCII character (an "é" in a link or header), so both are compared as UTF-8."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def _signature(secret: str, purpose: str, payload: str) -> str:
    return Signer(secret, purpose).signature(payload)


def make_token(secret: str, *, purpose: str, subject: str, expires_at: datetime) -> str:
    return Signer(secret, purpose).token(subject, token_expiry(expires_at))


def token_expiry(expires_at: datetime) -> str:
    """The expiry as a token writes it (Unix seconds in base 36)."""
    return _base36(int(expires_at.timestamp()))


def read_token(secret: str, token: str, *, purpose: str, now: datetime) -> str:
    """The subject of a valid token; raises ``BadToken`` otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise BadToken("malformed")
    subject, expiry, signature = parts
    payload = f"{subject}.{expiry}"
    if not signatures_match(signature, _signature(secret, purpose, payload)):
        raise BadToken("bad signature")
    try:
        expires = datetime.fromtimestamp(int(expiry, 36), tz=UTC)
    except ValueError:
        raise BadToken("malformed") from None
    if expires <= now:
        raise BadToken("expired")
    return subject


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, remainder = divmod(number, 36)
        text = digits[remainder] + text
        if number == 0:
            return text
