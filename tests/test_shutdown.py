"""Stopping the app (SIGTERM, as docker, systemd and Spaces do) loses no billed image."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


def start_app(emulator_url: str, history: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "REPLICATE_API_TOKEN": "r8_test", "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen(
        [sys.executable, "app.py", "--api-base", emulator_url, "--port", str(port),
         "--history-dir", str(history)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the app exited with {process.returncode} before serving: {process.stderr.read()}")
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(serving, timeout=30, step=0.1, message="the app did not serve its page within 30 s")
    except BaseException:
        process.kill()
        raise
    return process, url


def click_then_stop(app: subprocess.Popen, url: str, emulator, n: int) -> float:
    """Start an n-image generation through Gradio's HTTP API, send SIGTERM once its predictions
    exist, and return how long the app took to exit (it must exit 0)."""
    answer = httpx.post(f"{url}/gradio_api/call/generate",
                        json={"data": ["stopping soon", "1:1", "jpg", "block_only_high", n]})
    answer.raise_for_status()
    wait_until(lambda: len(emulator.predictions()) == n,
               message=lambda: f"{len(emulator.predictions())} of the {n} predictions were created")
    assert all(p["status"] in ("starting", "processing") for p in emulator.predictions())  # in flight
    stopped = time.monotonic()
    app.send_signal(signal.SIGTERM)
    assert app.wait(timeout=30) == 0
    return time.monotonic() - stopped


def rows(history: Path) -> int:
    with sqlite3.connect(f"file:{history / 'history.sqlite3'}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]


@pytest.mark.timeout(90)
def test_sigterm_lets_images_in_flight_finish_and_keeps_them(make_emulator, tmp_path):
    emulator = make_emulator(latency=2.0)
    app, url = start_app(emulator.base_url, tmp_path)
    try:
        click_then_stop(app, url, emulator, 2)
    finally:
        app.kill()
    assert [p["status"] for p in emulator.predictions()] == ["succeeded", "succeeded"]
    assert rows(tmp_path) == 2  # billed, so kept


@pytest.mark.timeout(90)
def test_sigterm_cancels_on_replicate_what_cannot_finish_in_time(make_emulator, tmp_path):
    emulator = make_emulator(latency=120.0)
    app, url = start_app(emulator.base_url, tmp_path)
    try:
        assert click_then_stop(app, url, emulator, 3) < 15  # within the grace docker and systemd give
    finally:
        app.kill()
    assert [p["status"] for p in emulator.predictions()] == ["canceled"] * 3
    assert rows(tmp_path) == 0
