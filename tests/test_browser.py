"""The page in real headless Chromium (Debian's, driven by Playwright): what a person does."""

from __future__ import annotations

import re

import httpx
import pytest
from conftest import free_port, wait_until
from PIL import Image
from playground import choose, serve
from playwright.sync_api import expect


@pytest.fixture
def site(make_emulator, tmp_path):
    emulator = make_emulator(latency=0.3)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        yield url, emulator


def test_generate_16_9_png_and_download_it(site, page, tmp_path):
    url, emulator = site
    page.goto(url)
    page.locator("#prompt textarea").fill("A lighthouse on a cliff, stormy sea")
    choose(page, "aspect_ratio", "16:9 landscape")
    choose(page, "output_format", "PNG")
    page.locator("#generate").click()

    thumbnails = page.locator("#gallery button.thumbnail-item")
    expect(thumbnails).to_have_count(1, timeout=10_000)
    expect(page.locator("#status")).to_contain_text("done in")
    [prediction] = emulator.predictions()
    assert prediction["input"]["aspect_ratio"] == "16:9"
    assert prediction["input"]["output_format"] == "png"

    with page.expect_download() as download_info:
        page.locator("#download").click()  # the original file, under its own name
    download = download_info.value
    assert download.suggested_filename.endswith(f"_{prediction['id']}.png")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with Image.open(saved) as image:
        assert (image.format, image.size) == ("PNG", (1408, 768))


def test_ctrl_enter_in_the_prompt_generates(site, page):
    url, emulator = site
    page.goto(url)
    page.locator("body[data-shortcuts=ready]").wait_for(state="attached")
    box = page.locator("#prompt textarea")
    box.fill("keyboard shortcut test")
    box.press("Control+Enter")
    expect(page.locator("#gallery button.thumbnail-item")).to_have_count(1, timeout=10_000)
    assert [p["input"]["prompt"] for p in emulator.predictions()] == ["keyboard shortcut test"]


def test_status_lines_count_the_seconds_while_the_image_is_made(site, page):
    url, emulator = site
    emulator.set_latency(4)
    page.goto(url)
    page.locator("body[data-shortcuts=ready]").wait_for(state="attached")
    page.locator("#prompt textarea").fill("a slow sunrise")
    page.locator("#generate").click()
    status = page.locator("#status")
    expect(status).to_contain_text(re.compile(r"Image 1: [\w ]+… 1\.\d s"), timeout=5_000)
    expect(status).to_contain_text(re.compile(r"Image 1: processing… [3-9]\.\d s"), timeout=8_000)
    expect(status).to_contain_text("done in", timeout=10_000)
    assert " s" not in status.inner_text().split("done in")[0]  # no leftover counter once done


def test_cancel_reaches_replicate_within_two_seconds(site, page):
    url, emulator = site
    emulator.set_latency(60)
    page.goto(url)
    page.locator("#prompt textarea").fill("a very slow model")
    page.locator("#generate").click()
    wait_until(lambda: len(emulator.predictions()) == 1)
    page.locator("#cancel").click()
    wait_until(lambda: emulator.predictions()[0]["status"] == "canceled", timeout=2.0,
               message="not cancelled 2 s after the click")
    expect(page.locator("#status")).to_contain_text("cancelled")


def test_closing_the_tab_cancels_its_predictions(site, browser):
    url, emulator = site
    emulator.set_latency(60)
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.locator("#prompt textarea").fill("left behind")
    page.locator("#generate").click()
    wait_until(lambda: len(emulator.predictions()) == 1)
    context.close()
    wait_until(lambda: emulator.predictions()[0]["status"] == "canceled", timeout=10.0)


def test_offline_mode_says_so_on_the_page(page, tmp_path):
    from imagen_ui.bootstrap import create_app
    from imagen_ui.settings import Settings

    app = create_app(Settings(offline=True, history_dir=tmp_path / "o", port=free_port()))
    emulator_url = app.emulator.base_url
    try:
        app.launch(prevent_thread_lock=True, quiet=True)
        page.goto(f"http://127.0.0.1:{app.settings.port}/")
        banner = page.locator("#offline-banner")
        expect(banner).to_contain_text("Offline mode")
        expect(banner).to_contain_text("REPLICATE_API_TOKEN")
    finally:
        app.close()
    with pytest.raises(httpx.ConnectError):  # the in-process emulator never outlives the app
        httpx.get(f"{emulator_url}/v1/account", timeout=2)
