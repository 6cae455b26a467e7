"""``python -m imagen_ui.emulator``: starts, answers the official client, exits 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import replicate
from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(30)


def launch(*args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "imagen_ui.emulator", "--port", str(port), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    assert "listening on" in line, (line, process.stderr.read() if process.poll() is not None else "")
    return process, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_exits_cleanly_on_signal(sig: signal.Signals) -> None:
    process, base_url = launch("--latency", "0.05", "--token", "r8_cli", "--seed", "3")
    try:
        output = replicate.Client(api_token="r8_cli", base_url=base_url).run(
            "google/imagen-4-fast", input={"prompt": "from the CLI"})
        assert output.startswith(f"{base_url}/files/")
        assert httpx.get(f"{base_url}/v1/account", trust_env=False).status_code == 401
        listed = httpx.get(f"{base_url}/_emulator/predictions", trust_env=False).json()
        assert [p["output"] for p in listed] == [output]
        process.send_signal(sig)
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_latency_can_be_changed_over_http_between_benchmark_phases() -> None:
    process, base_url = launch("--latency", "0.05")
    try:
        client = replicate.Client(api_token="x", base_url=base_url)
        assert httpx.post(f"{base_url}/_emulator/latency", json={"seconds": -1}).status_code == 400
        assert httpx.post(f"{base_url}/_emulator/latency", json={"seconds": "1"}).status_code == 400
        answer = httpx.post(f"{base_url}/_emulator/latency", json={"seconds": 0.6})
        assert answer.json() == {"latency": 0.6}
        started = time.monotonic()
        client.run("google/imagen-4-fast", input={"prompt": "slower now"})
        assert time.monotonic() - started >= 0.6
    finally:
        process.terminate()
        process.wait(timeout=10)
