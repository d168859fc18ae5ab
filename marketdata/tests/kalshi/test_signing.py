import base64
import os
import stat

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding

from marketdata.kalshi.signing import KalshiSigner, KeyFileError, load_private_key_file
from marketdata.tests.kalshi_fixtures import rsa_key, signer


def _verify(signature: str, message: bytes) -> None:
    rsa_key().public_key().verify(
        base64.b64decode(signature),
        message,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )


def test_it_signs_timestamp_method_and_path_without_query():
    headers = signer(clock_ms=1703123456789).headers(
        "get", "/trade-api/v2/portfolio/orders?limit=5"
    )
    assert headers["KALSHI-ACCESS-KEY"] == "key-1"
    assert headers["KALSHI-ACCESS-TIMESTAMP"] == "1703123456789"
    _verify(headers["KALSHI-ACCESS-SIGNATURE"], b"1703123456789GET/trade-api/v2/portfolio/orders")


def test_a_signature_over_another_path_does_not_verify():
    headers = signer(clock_ms=1).headers("GET", "/trade-api/v2/portfolio/balance")
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidSignature
        _verify(headers["KALSHI-ACCESS-SIGNATURE"], b"1GET/trade-api/v2/portfolio/orders")


def test_ed25519_keys_sign_the_same_text_plainly():
    key = ed25519.Ed25519PrivateKey.generate()
    signature = KalshiSigner("k", key).sign(5, "POST", "/trade-api/v2/portfolio/events/orders")
    key.public_key().verify(
        base64.b64decode(signature), b"5POST/trade-api/v2/portfolio/events/orders"
    )


def _write_key(tmp_path, mode: int):
    path = tmp_path / "kalshi.key"
    path.write_bytes(
        rsa_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(path, mode)
    return path


def test_production_refuses_a_group_or_world_readable_key(tmp_path):
    for mode in (0o640, 0o604):
        with pytest.raises(KeyFileError, match="chmod 600"):
            load_private_key_file(_write_key(tmp_path, mode), production=True)


def test_production_accepts_an_owner_only_key_and_development_any(tmp_path):
    path = _write_key(tmp_path, 0o600)
    assert load_private_key_file(path, production=True) is not None
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    assert load_private_key_file(path, production=False) is not None


def test_a_missing_or_garbage_key_file_is_a_clear_error(tmp_path):
    with pytest.raises(KeyFileError, match="cannot read"):
        load_private_key_file(tmp_path / "nope.key", production=False)
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyFileError, match="PEM"):
        load_private_key_file(bad, production=True)


def test_the_signer_comes_from_the_exchange_settings(tmp_path, settings):
    from marketdata.kalshi.config import signer_from_settings

    path = _write_key(tmp_path, 0o644)
    settings.KBTC = {**settings.KBTC, "KALSHI_API_KEY_ID": "kid", "KALSHI_PRIVATE_KEY_PATH": path}
    assert signer_from_settings(production=False).key_id == "kid"
    with pytest.raises(KeyFileError, match="group or others"):
        signer_from_settings(production=True)
    settings.KBTC = {**settings.KBTC, "KALSHI_PRIVATE_KEY_PATH": None}
    with pytest.raises(KeyFileError, match="KALSHI_PRIVATE_KEY_PATH"):
        signer_from_settings()
