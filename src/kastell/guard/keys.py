"""Tenant API keys: stored as salted SHA-256 hashes, compared in constant time.

The stored form is ``sha256$<salt hex>$<hash hex>`` with ``hash = SHA-256(salt || key)``. API
keys are random 256-bit tokens (see ``new_api_key``), so a fast salted hash is enough: there is
nothing to brute-force that a slow KDF would protect, and authentication stays cheap per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping

__all__ = ["KEY_HASH_PATTERN", "KeyRing", "hash_api_key", "new_api_key"]

KEY_HASH_PATTERN = r"^sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$"


def new_api_key() -> str:
    """A fresh random API key (``kst-`` + 43 URL-safe characters)."""
    return "kst-" + secrets.token_urlsafe(32)


def hash_api_key(key: str, salt: bytes | None = None) -> str:
    """Return the stored form of ``key`` with a fresh (or the given 16-byte) salt."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.sha256(salt + key.encode("utf-8")).hexdigest()
    return f"sha256${salt.hex()}${digest}"


class KeyRing:
    """Maps a presented API key to its tenant by checking every stored hash in constant time."""

    def __init__(self, tenants: Mapping[str, Iterable[str]]) -> None:
        self._entries: list[tuple[bytes, bytes, str]] = []
        for tenant, hashes in tenants.items():
            for stored in hashes:
                _, salt_hex, digest_hex = stored.split("$")
                self._entries.append((bytes.fromhex(salt_hex), bytes.fromhex(digest_hex), tenant))

    def tenant_for(self, key: str) -> str | None:
        """The tenant owning ``key``, or None. Every entry is compared (no early exit)."""
        raw = key.encode("utf-8")
        found: str | None = None
        for salt, digest, tenant in self._entries:
            if hmac.compare_digest(hashlib.sha256(salt + raw).digest(), digest):
                found = tenant
        return found
