"""Forged webhook deliveries against the real app (its own server, with a public URL), on loopback."""

from __future__ import annotations

import asyncio
import logging
import time
import tracemalloc
import uuid

import httpx
import pytest
from conftest import free_port
from playground import serve

from imagen_ui.bootstrap import WEBHOOK_PATH

pytestmark = pytest.mark.timeout(180)
MB = 2**20


def forged_headers(timestamp: str | None = None) -> dict[str, str]:
    return {"content-type": "application/json", "webhook-id": f"msg_{uuid.uuid4().hex}",
            "webhook-timestamp": timestamp or str(int(time.time())),
            "webhook-signature": "v1,bm90IGEgcmVhbCBzaWduYXR1cmUgYXQgYWxsIQ=="}


@pytest.fixture
def site(emulator, tmp_path):
    port = free_port()
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True, port=port,
               public_url=f"http://127.0.0.1:{port}") as (app, url):
        assert app.webhooks is not None
        yield app, url.rstrip("/") + WEBHOOK_PATH


def test_a_5000_digit_timestamp_is_refused_as_a_timestamp(site, caplog):
    """It was logged as "the webhook signing secret is malformed" (int() refused the digits inside the
    signature check, and that ValueError was taken for the secret's) and answered 503."""
    _, hook = site
    caplog.set_level(logging.INFO)
    answer = httpx.post(hook, content=b"{}", headers=forged_headers("9" * 5000), timeout=10)
    print(f"\n5,000-digit timestamp: HTTP {answer.status_code} {answer.text!r}")
    assert (answer.status_code, answer.text) == (400, "webhook timestamp out of range")
    assert "malformed" not in caplog.text


def test_forty_forged_5mb_bodies_at_once_take_little_memory(site):
    """40 concurrent forged deliveries of 5 MB each (chunked, so no Content-Length to refuse them on)
    took 130 MB; bodies are now capped and so are the deliveries read at once."""
    app, hook = site
    chunk = b" " * (64 * 1024)

    async def body():
        for _ in range(5 * MB // len(chunk)):
            yield chunk

    async def flood() -> list[int]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=40)) as http:
            async def one() -> int:
                try:
                    return (await http.post(hook, content=body(), headers=forged_headers())).status_code
                except httpx.HTTPError:  # the server may close a connection it will not read
                    return 0
            return await asyncio.gather(*(one() for _ in range(40)))

    tracemalloc.start()
    try:
        statuses = asyncio.run(flood())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\n40 forged 5 MB deliveries: peak {peak / MB:.0f} MB traced, answers {sorted(set(statuses))}")
    assert peak < 25 * MB
    assert set(statuses) <= {0, 413, 503}
    assert app.webhooks.counts["accepted"] == 0
