"""Values from outside quoted back on the page: a crafted image's settings, a typed value, in Chromium."""

from __future__ import annotations

import http.server
import io
import threading

import pytest
from PIL import Image
from playground import serve
from playwright.sync_api import expect

from imagen_ui.store import metadata

pytestmark = pytest.mark.timeout(120)


class Beacon:
    """A loopback web server that counts requests: a remote image an injected tag would load."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.send_header("content-type", "image/gif")
                self.end_headers()
                self.wfile.write(b"GIF89a")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def beacon():
    found = Beacon()
    yield found
    found.close()


def crafted_png(aspect_ratio: str, prompt: str = "a harmless prompt") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "gray").save(buffer, "PNG")
    infotext = metadata.format_infotext(prompt, {
        "Model": "google/imagen-4-fast", "Aspect ratio": aspect_ratio, "Output format": "jpg",
        "Size": "1024x1024", "Prediction": "crafted0000000000000000000", "Created": "2026-11-26T05:12:33Z"})
    return metadata.embed(buffer.getvalue(), "png", infotext)


def test_a_crafted_images_settings_are_checked_before_they_fill_the_form(emulator, tmp_path, page, beacon):
    """Its aspect ratio was an <img> tag: the form took it, and the error toast quoting it loaded a
    remote image. Now a value the model would refuse is not restored, and says so."""
    tag = f"<img src={beacon.url}/i>"
    image = tmp_path / "crafted.png"
    image.write_bytes(crafted_png(tag))
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True) as (_, url):
        page.goto(url)
        page.locator("#drop-settings input[type=file]").set_input_files(str(image))
        expect(page.get_by_text("Settings restored from the image except Aspect ratio")).to_be_visible()
        expect(page.locator("#prompt textarea")).to_have_value("a harmless prompt")
        assert page.locator("#aspect_ratio input").input_value() != tag
        page.locator("#generate").click()
        expect(page.locator("#gallery button.thumbnail-item")).to_have_count(1, timeout=10_000)
    print(f"\nrequests to the beacon: {len(beacon.hits)}")
    assert beacon.hits == []


def test_a_value_quoted_in_an_error_toast_is_shown_as_text(emulator, tmp_path, page, beacon):
    tag = f"<img src={beacon.url}/t>"
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True) as (_, url):
        page.goto(url)
        page.locator("#prompt textarea").fill("anything")
        box = page.locator("#aspect_ratio input")
        box.fill(tag)
        box.press("Enter")
        page.locator("#generate").click()
        expect(page.get_by_text("Aspect ratio must be one of")).to_be_visible()
        expect(page.get_by_text(tag, exact=False)).to_be_visible()  # the tag's text, not an image
        page.wait_for_timeout(500)
    print(f"\nrequests to the beacon: {len(beacon.hits)}")
    assert beacon.hits == []
    assert emulator.predictions() == []
