"""Attacks with files and text from outside, run against the real app on loopback.

Each test is an attack a stranger made on `--public`; it failed before the fix it names.
"""

from __future__ import annotations

import io
import threading
import time
import zlib
from pathlib import Path

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


def test_uploads_are_capped_and_cleaned_up(emulator, tmp_path, monkeypatch):
    """/gradio_api/upload took files of any size from anyone, and kept them until a restart (two 50 MB
    files stayed). Now one file is capped at 20 MB, and old uploads are removed on a schedule (an hour;
    a second here)."""
    from pathlib import Path

    from imagen_ui import gradio_tuning

    monkeypatch.setattr(gradio_tuning, "CACHE_CLEANUP", (1, 1), raising=False)
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True) as (_, url):
        big = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.png", b"\0" * (50 * 2**20))},
                         timeout=120)
        small = httpx.post(f"{url}gradio_api/upload", files={"files": ("small.png", b"\0" * 1000)}, timeout=30)
        print(f"\n50 MB upload: HTTP {big.status_code}; 1 KB upload: HTTP {small.status_code}")
        assert big.status_code == 413
        assert small.status_code == 200
        kept = Path(small.json()[0])
        assert kept.exists()
        deadline = time.monotonic() + 15
        while kept.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        print(f"1 KB upload still on disk after {15 - (deadline - time.monotonic()):.0f} s: {kept.exists()}")
        assert not kept.exists()


def test_no_deep_link_holds_a_visitors_token(emulator, tmp_path):
    """Gradio's deep link wrote a session's values, the token box included, to a file it served to
    whoever held the session hash (or the link)."""
    import uuid

    token = f"r8_DEEPLINK{uuid.uuid4().hex}"  # unique: Gradio's temp dir outlives a test run
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True) as (app, url):
        cfg = raw_gradio.config(url)
        check, trigger = raw_gradio.event_index(cfg, "own-token-check", "click")
        session = raw_gradio.Session(url)
        raw_gradio.result(session, session.join(check, [token, False], trigger_id=trigger))
        link = httpx.get(f"{url}gradio_api/deep_link", params={"session_hash": session.session_hash}, timeout=10)
        served = httpx.get(url, params={"deep_link": link.text.strip('"')}, timeout=10).text if link.is_success else ""
        uploads = Path(app.demo.server_app.uploaded_file_dir)
        written = [p for p in uploads.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
        session.close()
    print(f"\ndeep link: HTTP {link.status_code}; token in the page it opens: {token in served}; "
          f"files holding the token: {len(written)}")
    assert link.status_code == 404
    assert token not in served and not written
