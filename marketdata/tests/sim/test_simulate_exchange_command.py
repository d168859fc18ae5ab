"""``manage.py simulate_exchange`` as a real process on an ephemeral port."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from marketdata.sim.auth import generate_key_pair, sign_headers

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_command_serves_markets_with_registered_key_and_faults(tmp_path):
    private, public = generate_key_pair()
    (tmp_path / "pub.pem").write_bytes(public)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KBTC_HISTORY"}
    process = subprocess.Popen(
        [
            sys.executable, "manage.py", "simulate_exchange", "--port", str(port), "--speed", "60",
            "--start", "2025-01-01T00:07:00Z", "--seed", "4", "--days", "1",
            "--faults", "rest_slow=0.0", "--api-key", f"key-1={tmp_path / 'pub.pem'}",
        ],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                clock = httpx.get(f"{base}/sim/clock", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("simulator did not start")
        assert clock["mode"] == "realtime"
        assert clock["speed"] == 60
        markets = httpx.get(f"{base}/trade-api/v2/markets", params={"status": "open"}).json()
        assert markets["markets"][0]["ticker"].startswith("KXBTC15M-24DEC3119")
        path = "/trade-api/v2/portfolio/balance"
        assert (
            httpx.get(base + path, headers=sign_headers(private, "key-1", "GET", path)).status_code
            == 200
        )
        assert httpx.get(base + path).status_code == 401
        time.sleep(1.0)
        later = httpx.get(f"{base}/sim/clock").json()
        assert later["now_ms"] - clock["now_ms"] >= 30_000  # 60x
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert "KALSHI_WS_URL=ws://127.0.0.1" in output
    assert process.returncode == 0
