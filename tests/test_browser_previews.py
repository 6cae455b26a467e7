"""Previews in real Chromium: the page loads small previews, downloads give the original bytes."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from PIL import Image
from playground import serve
from playwright.sync_api import expect

FILE_ROUTE = "/gradio_api/file="
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def site(make_emulator, tmp_path):
    """The app against an emulator serving photo-sized files, as Replicate does."""
    emulator = make_emulator(latency=0.2, small_images=False)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        yield url, app


class Loads:
    """Every image the page loaded to show it (an <img>, not a download's fetch) from the file
    route: path -> bytes received."""

    def __init__(self, page) -> None:
        self.bytes: dict[str, int] = {}
        page.on("requestfinished", self._record)

    def _record(self, request) -> None:
        at = request.url.find(FILE_ROUTE)
        if at >= 0 and request.resource_type == "image":
            path = unquote(request.url[at + len(FILE_ROUTE):].split("?")[0])
            self.bytes[path] = self.bytes.get(path, 0) + request.sizes()["responseBodySize"]

    def total(self) -> int:
        return sum(self.bytes.values())


def settle(page, selector: str) -> None:
    """Until every image under `selector` has loaded (Gradio's page never goes network-idle)."""
    page.wait_for_function("""sel => { const imgs = [...document.querySelectorAll(sel + ' img')];
        return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }""", arg=selector,
                           timeout=30_000)
    page.wait_for_timeout(300)  # requestfinished events arrive just after


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored(app) -> dict[str, Path]:
    """The history's image files by name."""
    return {p.name: p for p in app.service.history.images_dir.rglob("*") if p.is_file()}


def generate(page, url: str, prompt: str, images: int, fmt: str = "PNG") -> None:
    page.goto(url)
    page.locator("body[data-shortcuts=ready]").wait_for(state="attached")
    page.locator("#prompt textarea").fill(prompt)
    page.locator("#output_format input").click()
    page.get_by_role("option", name=fmt, exact=True).click()
    page.locator("#aspect_ratio input").click()
    page.get_by_role("option", name="16:9 landscape", exact=True).click()
    count = page.locator("#num_images input[type=number]")
    count.fill(str(images))
    count.press("Enter")
    page.locator("#generate").click()
    expect(page.locator("#gallery button.thumbnail-item")).to_have_count(images, timeout=30_000)
    # Every tile is there from the click on: wait until each image is done, and shown.
    page.wait_for_function("n => (document.querySelector('#status')?.textContent.match(/done in/g) ?? [])"
                           ".length === n", arg=images, timeout=30_000)
    settle(page, "#gallery")


def test_a_finished_click_shows_previews_and_downloads_give_the_originals(site, browser, tmp_path):
    url, app = site
    context = browser.new_context(accept_downloads=True, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    loads = Loads(page)
    generate(page, url, "four foxes in the snow", 4)
    settle(page, "#gallery")
    files = stored(app)
    assert len(files) == 4
    originals = sum(p.stat().st_size for p in files.values())
    assert originals > 4 * 1_500_000  # photo-sized PNGs, as Replicate serves them
    shown = loads.total()
    assert 0 < shown <= 0.05 * originals, f"the page loaded {shown} bytes for {originals} bytes of originals"
    assert set(loads.bytes) == {str(p) for p in files.values()}  # the originals' URLs, answered by previews

    with page.expect_download() as download_info:
        page.locator("#download-all").click()  # the zip of the click's originals
    with zipfile.ZipFile(download_info.value.path()) as archive:
        members = {Path(name).name: archive.read(name) for name in archive.namelist()}
    assert sorted(members) == sorted(files)
    for name, data in members.items():
        assert sha256(data) == sha256(files[name].read_bytes()), name

    page.locator("#gallery button.thumbnail-item").nth(1).click()  # the full-size view: a preview too
    settle(page, "#gallery")
    assert loads.total() <= 2 * shown  # previews again at most, never an original
    with page.expect_download() as download_info:
        page.locator("#download").click()  # "Download image 2": the original file, under its own name
    download = download_info.value
    assert download.suggested_filename in files
    assert sha256(Path(download.path()).read_bytes()) == sha256(files[download.suggested_filename].read_bytes())

    context.close()


def test_history_tiles_are_small_and_lazy_and_the_details_give_the_original(site, browser):
    url, app = site
    context = browser.new_context(accept_downloads=True, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    generate(page, url, "a lighthouse in a storm", 2)
    settle(page, "#gallery")  # the Generate tab's previews are in: only the History tab's count below
    loads = Loads(page)
    page.get_by_role("tab", name="History").click()
    tiles = page.locator("#history-gallery button.thumbnail-item img")
    expect(tiles).to_have_count(2)
    for i in range(2):
        assert tiles.nth(i).get_attribute("loading") == "lazy"
        assert tiles.nth(i).get_attribute("src").endswith(".384.webp")
    settle(page, "#history-gallery")
    files = stored(app)
    tile_bytes = loads.total()
    assert 0 < tile_bytes < 0.01 * sum(p.stat().st_size for p in files.values())

    page.locator("#history-gallery button.thumbnail-item").first.click()
    full = page.locator("#history-image img")
    expect(full).to_be_visible()
    settle(page, "#history-image")
    original = Path(unquote(full.get_attribute("src").split(FILE_ROUTE, 1)[1]))
    assert original.name in files
    assert full.evaluate("img => img.naturalWidth") == 1024  # the full-size view shows the preview
    assert all(size < original.stat().st_size / 10 for size in loads.bytes.values())
    with Image.open(io.BytesIO(httpx.get(full.get_attribute("src")).content)) as image:
        assert image.format == "PNG"  # outside a page's <img>, the same URL is the original

    with page.expect_download() as download_info:
        page.locator("#history-download").click()
    download = download_info.value
    assert download.suggested_filename == original.name
    assert sha256(Path(download.path()).read_bytes()) == sha256(original.read_bytes())

    with context.expect_page() as opened:
        page.locator("#history-about a", has_text="original").click()
    tab = opened.value
    body = tab.evaluate("async () => Array.from(new Uint8Array(await (await fetch(location.href)).arrayBuffer()))")
    assert sha256(bytes(body)) == sha256(original.read_bytes())
    context.close()
