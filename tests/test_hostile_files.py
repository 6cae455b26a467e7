"""Attacks with files and text from outside, run against the real app on loopback.

Each test is an attack a stranger made on `--public`; it failed before the fix it names.
"""

from __future__ import annotations

import io
import threading
import time
import zlib

import httpx
import pytest
import raw_gradio
from PIL import Image
from playground import serve

pytestmark = pytest.mark.timeout(180)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def infotext_bomb() -> bytes:
    """A 1x1 PNG whose zTXt "parameters" inflates to 80,000 characters of "a a a …": 194 bytes."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    png = buffer.getvalue()
    text = _chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(b"a " * 40_000, 9))
    return png[:33] + text + png[33:]  # after IHDR


def test_the_194_byte_png_stalls_no_one(emulator, tmp_path):
    """Dropping it on "reuse its settings" took 23 s (47 s on this machine) of the interpreter, and every
    other visitor's request waited that long. Now the infotext parser is linear: nobody waits."""
    bomb = infotext_bomb()
    assert len(bomb) == 194
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True) as (_, url):
        cfg = raw_gradio.config(url)
        fn_index, trigger = raw_gradio.event_index(cfg, "drop-settings", "upload")
        file = raw_gradio.upload(url, "bomb.png", bomb)
        httpx.get(f"{url}gradio_api/info", timeout=10)  # built and cached before the clock starts
        answers: list[dict] = []
        attack = threading.Thread(target=lambda: answers.append(
            raw_gradio.call(url, fn_index, [file], trigger_id=trigger, timeout=120)))
        waits = []
        attack.start()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline or attack.is_alive() and time.monotonic() < deadline + 60:
            started = time.monotonic()
            httpx.get(f"{url}gradio_api/info", timeout=120)  # another visitor, meanwhile
            waits.append(time.monotonic() - started)
            time.sleep(0.05)
        attack.join(timeout=120)
    print(f"\nanother visitor's longest wait during the drop: {max(waits):.2f} s")
    assert answers and answers[0]["success"], answers  # answered: "no settings of ours"
    assert max(waits) < 1.5, f"another visitor waited {max(waits):.1f} s"


@pytest.mark.parametrize("escapes", [8_000, 60_000])
def test_a_cookie_of_backslashes_stalls_no_one(emulator, tmp_path, escapes):
    """Python 3.11.7's cookie unquoting is quadratic in backslash escapes, and Starlette runs it on
    every request: one /generate with a 120 KB cookie took 46 s and held everyone else up."""
    cookie = 'x="' + "\\\\" * escapes + '"; imagen_ui_visitor=aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa'
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True) as (_, url):
        call = {"data": ["a calm lake", "1:1", "jpg", "block_only_high", 1]}
        started = time.monotonic()
        try:
            answer = httpx.post(f"{url}gradio_api/call/generate", json=call, headers={"cookie": cookie},
                                timeout=10)
            if answer.status_code == 200:  # the image, streamed: each event reads the cookie again
                event = answer.json()["event_id"]
                result = httpx.get(f"{url}gradio_api/call/generate/{event}", headers={"cookie": cookie},
                                   timeout=10)
        except httpx.TimeoutException:
            answer = None
        took = time.monotonic() - started
        print(f"\n{len(cookie):,}-byte cookie: answered in {took:.2f} s")
        assert answer is not None and took < 1.5
        if len(cookie) > 16 * 1024:
            assert answer.status_code == 431 and "too large" in answer.text
        else:  # dropped, and the request is served as the visitor's own
            assert answer.status_code == 200 and "event: complete" in result.text
