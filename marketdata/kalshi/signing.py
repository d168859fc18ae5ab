"""Kalshi request signing (exchange-protocols.md §1.2).

String to sign = ``timestamp_ms + METHOD + path``: the path from the root including the
``/trade-api/v2`` prefix, without the query string; the body is never signed. RSA keys sign
with PSS (SHA-256, MGF1-SHA-256, salt = digest length); Ed25519 keys (accepted by the
official SDK) sign the same text plainly. Timestamps are always wall time (interfaces.md
§4), whatever the market clock says.
"""

from __future__ import annotations

import base64
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

WS_SIGN_PATH = "/trade-api/ws/v2"

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class KeyFileError(RuntimeError):
    """The private key file is missing, unreadable, not a supported key or too exposed."""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def load_private_key_pem(pem: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"not a PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"unsupported key type {type(key).__name__} (RSA or Ed25519 only)")
    return key


def load_private_key_file(path: Path, *, production: bool) -> PrivateKey:
    """Read the key; in production a group- or world-readable file is refused.

    A key that others on the host can read can place orders with our money; in development
    the check is skipped so a throwaway demo key in a shared checkout still works.
    """
    try:
        mode = os.stat(path).st_mode
        pem = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read Kalshi private key {path}: {exc.strerror}") from None
    if production and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"Kalshi private key {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it"
        )
    return load_private_key_pem(pem)


def strip_query(path: str) -> str:
    return path.split("?", 1)[0]


class KalshiSigner:
    """Builds the three ``KALSHI-ACCESS-*`` headers for one API key."""

    def __init__(
        self, key_id: str, private_key: PrivateKey, *, clock_ms: Callable[[], int] = wall_ms
    ) -> None:
        if not key_id:
            raise KeyFileError("KALSHI_API_KEY_ID is empty")
        self.key_id = key_id
        self._key = private_key
        self._clock_ms = clock_ms

    @classmethod
    def from_pem(cls, key_id: str, pem: bytes | str) -> KalshiSigner:
        raw = pem.encode() if isinstance(pem, str) else pem
        return cls(key_id, load_private_key_pem(raw))

    @classmethod
    def from_file(cls, key_id: str, path: Path | str, *, production: bool) -> KalshiSigner:
        return cls(key_id, load_private_key_file(Path(path), production=production))

    def sign(self, timestamp_ms: int, method: str, path: str) -> str:
        message = f"{timestamp_ms}{method.upper()}{strip_query(path)}".encode()
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            signature = self._key.sign(message)
        else:
            signature = self._key.sign(
                message,
                padding.PSS(
                    mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH
                ),
                hashes.SHA256(),
            )
        return base64.b64encode(signature).decode("ascii")

    def headers(self, method: str, path: str) -> dict[str, str]:
        timestamp = self._clock_ms()
        return {
            "KALSHI-ACCESS-KEY": self.key_id,
            "KALSHI-ACCESS-TIMESTAMP": str(timestamp),
            "KALSHI-ACCESS-SIGNATURE": self.sign(timestamp, method, path),
        }
