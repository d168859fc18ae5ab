"""Signature checks: public reads open, signed requests verified, /portfolio and WS always."""

import base64
import time

import aiohttp
import pytest

from marketdata.sim.auth import (
    AuthError,
    KeyRegistry,
    generate_key_pair,
    parse_api_key_option,
    sign_headers,
)

BALANCE = "/trade-api/v2/portfolio/balance"
MARKETS = "/trade-api/v2/markets"
WS_PATH = "/trade-api/ws/v2"


async def status(http, url, headers=None):
    async with http.get(url, headers=headers or {}) as response:
        body = await response.json()
        return response.status, body


async def test_public_reads_need_no_headers_but_portfolio_does(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        assert (await status(http, sim.base_url + MARKETS))[0] == 200
        code, body = await status(http, sim.base_url + BALANCE)
        assert code == 401
        assert body["error"]["code"] == "authentication_error"
        code, body = await status(http, sim.base_url + BALANCE, sim.sign("GET", BALANCE))
        assert code == 200
        assert body["balance"] == 100_000


async def test_signed_public_reads_must_verify(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        good = sim.sign("GET", MARKETS)
        assert (await status(http, sim.base_url + MARKETS + "?limit=5", good))[
            0
        ] == 200  # query not signed
        other_private, _ = generate_key_pair()
        wrong = sign_headers(other_private, sim.key_id, "GET", MARKETS)
        assert (await status(http, sim.base_url + MARKETS, wrong))[0] == 401


@pytest.mark.parametrize(
    "case",
    [
        "unknown_key",
        "wrong_key",
        "altered_path",
        "missing_header",
        "old_timestamp",
        "future_timestamp",
        "garbage_signature",
        "wrong_method",
    ],
)
async def test_every_bad_signature_gets_401(sim_exchange, case):
    sim = sim_exchange
    headers = sim.sign("GET", BALANCE)
    if case == "unknown_key":
        headers["KALSHI-ACCESS-KEY"] = "not-registered"
    elif case == "wrong_key":
        other_private, _ = generate_key_pair()
        headers = sign_headers(other_private, sim.key_id, "GET", BALANCE)
    elif case == "altered_path":
        headers = sim.sign("GET", "/trade-api/v2/portfolio/positions")
    elif case == "missing_header":
        del headers["KALSHI-ACCESS-SIGNATURE"]
    elif case == "garbage_signature":
        headers["KALSHI-ACCESS-SIGNATURE"] = base64.b64encode(b"x" * 256).decode()
    elif case == "wrong_method":
        headers = sim.sign("POST", BALANCE)
    else:
        skew = -120_000 if case == "old_timestamp" else 120_000
        stamp = int(time.time() * 1000) + skew
        headers = sign_headers(sim.private_key_pem, sim.key_id, "GET", BALANCE, timestamp_ms=stamp)
    async with aiohttp.ClientSession() as http:
        code, body = await status(http, sim.base_url + BALANCE, headers)
    assert code == 401, body


async def test_ws_handshake_needs_a_valid_signature(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        attempts: tuple[dict[str, str], ...] = ({}, sim.sign("GET", "/trade-api/v2/markets"))
        for headers in attempts:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(sim.kalshi_ws_url, headers=headers)
            assert refused.value.status == 401
        ws = await http.ws_connect(sim.kalshi_ws_url, headers=sim.sign("GET", WS_PATH))
        await ws.close()


def test_registry_accepts_ed25519_and_key_files(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "k.pem"
    path.write_bytes(private)  # a private key file registers its public half
    key_id, public = parse_api_key_option(f"abc={path}")
    registry = KeyRegistry()
    registry.register(key_id, public)
    assert registry.verify(sign_headers(private, "abc", "GET", BALANCE), "GET", BALANCE) == "abc"
    with pytest.raises(AuthError):
        registry.verify(sign_headers(private, "abc", "GET", BALANCE), "GET", MARKETS)
    with pytest.raises(ValueError):
        parse_api_key_option("no-equals-sign")
