"""Kalshi request signatures, verified the way the exchange does (exchange-protocols.md §1.2).

Text signed = ``timestamp_ms + METHOD + path`` (path from the root incl. ``/trade-api/v2``,
no query string; the WS handshake signs ``GET /trade-api/ws/v2``). RSA-PSS with SHA-256,
MGF1-SHA-256, salt = digest length; Ed25519 keys sign the same text plainly (SDK3 auth.py).
PSS is randomised, so we verify, never compare bytes. Timestamps are wall-clock ms whatever
the simulated clock says (interfaces.md §4). Kalshi does not document its skew window
(§7 point 1); we allow ``max_skew_ms`` either way.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

KEY_HEADER = "KALSHI-ACCESS-KEY"
TIMESTAMP_HEADER = "KALSHI-ACCESS-TIMESTAMP"
SIGNATURE_HEADER = "KALSHI-ACCESS-SIGNATURE"
AUTH_HEADERS = (KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
DEFAULT_MAX_SKEW_MS = 60_000

PublicKey = rsa.RSAPublicKey | Ed25519PublicKey
KEY_ID = web.RequestKey("key_id", str)  # the verified API key of a signed request


class AuthError(Exception):
    """Why a request was refused (the server answers 401 with this message)."""


def load_public_key(pem: str | bytes) -> PublicKey:
    """A public key from PEM text; a private key PEM is accepted and its public half kept."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    if not isinstance(key, rsa.RSAPublicKey | Ed25519PublicKey):
        raise ValueError("API keys must be RSA or Ed25519")
    return key


def parse_api_key_option(option: str) -> tuple[str, PublicKey]:
    """``KEY_ID=PEM`` where PEM is a file path or the PEM text itself."""
    key_id, sep, pem = option.partition("=")
    if not sep or not key_id or not pem:
        raise ValueError(f"--api-key wants KEY_ID=PEM, got {option!r}")
    text = pem if pem.lstrip().startswith("-----BEGIN") else Path(pem).expanduser().read_text()
    return key_id, load_public_key(text)


class KeyRegistry:
    def __init__(self, max_skew_ms: int = DEFAULT_MAX_SKEW_MS) -> None:
        self.keys: dict[str, PublicKey] = {}
        self.max_skew_ms = max_skew_ms

    def register(self, key_id: str, public_key: PublicKey | str | bytes) -> None:
        if isinstance(public_key, str | bytes):
            public_key = load_public_key(public_key)
        self.keys[key_id] = public_key

    def verify(
        self, headers: Mapping[str, str], method: str, path: str, now_ms: int | None = None
    ) -> str:
        """Return the key id of a correctly signed request, else raise ``AuthError``."""
        missing = [name for name in AUTH_HEADERS if not headers.get(name)]
        if missing:
            raise AuthError(f"missing header {missing[0]}")
        key_id, stamp, signature = (headers[name] for name in AUTH_HEADERS)
        key = self.keys.get(key_id)
        if key is None:
            raise AuthError("unknown API key")
        if not stamp.isdigit():
            raise AuthError("malformed timestamp")
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        if abs(now_ms - int(stamp)) > self.max_skew_ms:
            raise AuthError("timestamp outside the allowed window")
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise AuthError("malformed signature") from None
        message = f"{stamp}{method.upper()}{path.split('?')[0]}".encode()
        try:
            if isinstance(key, Ed25519PublicKey):
                key.verify(raw, message)
            else:
                key.verify(
                    raw,
                    message,
                    padding.PSS(
                        mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH
                    ),
                    hashes.SHA256(),
                )
        except InvalidSignature:
            raise AuthError("invalid signature") from None
        return key_id


def has_auth_headers(headers: Mapping[str, str]) -> bool:
    return any(name in headers for name in AUTH_HEADERS)


def sign_headers(
    private_pem: bytes | str, key_id: str, method: str, path: str, timestamp_ms: int | None = None
) -> dict[str, str]:
    """Client-side signing, for tests and tools (the product's client has its own)."""
    data = private_pem.encode() if isinstance(private_pem, str) else private_pem
    key = serialization.load_pem_private_key(data, password=None)
    stamp = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    message = f"{stamp}{method.upper()}{path.split('?')[0]}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
    else:
        signature = key.sign(message)  # type: ignore[union-attr,call-arg]
    return {
        KEY_HEADER: key_id,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: base64.b64encode(signature).decode(),
    }


def generate_key_pair() -> tuple[bytes, bytes]:
    """A throwaway RSA-2048 key pair (private PKCS#8 PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public
