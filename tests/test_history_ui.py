"""The History tab, through gradio_client and in real Chromium: kept, found, reused, deleted."""

from __future__ import annotations

import pytest
from gradio_client import Client
from playground import serve
from playwright.sync_api import expect

PERMISSIVE = "block_only_high"


def make(client: Client, prompt: str, aspect="1:1", fmt="jpg", n=1):
    return client.predict(prompt, aspect, fmt, PERMISSIVE, n, api_name="/generate")


@pytest.fixture
def emulator(make_emulator):
    return make_emulator(latency=0.05)


def test_history_survives_a_restart_and_is_searchable(emulator, tmp_path):
    history = tmp_path / "outputs"
    with serve(history, api_base=emulator.base_url) as (_, url):
        client = Client(url, verbose=False, analytics_enabled=False)
        make(client, "first: a red fox")
        make(client, "second: a blue whale", n=2)
    with serve(history, api_base=emulator.base_url) as (_, url):  # a new process-worth of app
        client = Client(url, verbose=False, analytics_enabled=False)
        gallery, label = client.predict("", api_name="/history")
        assert [item["caption"] for item in gallery] == [
            "second: a blue whale", "second: a blue whale", "first: a red fox"]
        assert "3 images" in label
        gallery, label = client.predict("RED FOX", api_name="/history")
        assert [item["caption"] for item in gallery] == ["first: a red fox"]
        gallery, label = client.predict("nothing like this", api_name="/history")
        assert gallery == [] and "No images match" in label


def test_reuse_settings_and_delete_in_the_browser(emulator, tmp_path, page):  # noqa: F811
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        client = Client(url, verbose=False, analytics_enabled=False)
        make(client, "an old tram in Lisbon", aspect="9:16", fmt="png")
        make(client, "a newer one")
        page.goto(url)
        page.get_by_role("tab", name="History").click()
        thumbs = page.locator("#history-gallery button.thumbnail-item")
        expect(thumbs).to_have_count(2)
        expect(page.locator("#history-page")).to_contain_text("2 images")
        # One page: neither way to page is live.
        expect(page.locator("#history-newer")).to_be_disabled()
        expect(page.locator("#history-older")).to_be_disabled()

        thumbs.nth(1).click()  # the older one: newest first
        expect(page.locator("#history-about")).to_contain_text("an old tram in Lisbon")
        expect(page.locator("#history-about")).to_contain_text("9:16 portrait")  # read as on the form
        expect(page.locator("#history-about")).to_contain_text("Format")
        expect(page.locator("#history-about")).to_contain_text("PNG")
        page.locator("#history-reuse").click()
        expect(page.locator("#prompt textarea")).to_have_value("an old tram in Lisbon")
        expect(page.locator("#aspect_ratio input")).to_have_value("9:16 portrait")
        expect(page.locator("#output_format input")).to_have_value("PNG")

        page.get_by_role("tab", name="History").click()
        expect(thumbs).to_have_count(2)
        thumbs.nth(0).click()
        expect(page.locator("#history-about")).to_contain_text("a newer one")
        page.locator("#history-delete").click()
        page.locator("#history-keep").click()  # asks first; "Keep it" keeps it
        expect(thumbs).to_have_count(2)
        page.locator("#history-delete").click()
        page.locator("#history-confirm").click()
        expect(thumbs).to_have_count(1)
        expect(page.locator("#history-page")).to_contain_text("1 image")
        entries = app.service.history.page(everyone=True)
        assert [e.prompt for e in entries] == ["an old tram in Lisbon"]
        assert len(list((tmp_path / "outputs").rglob("*.jpg"))) == 0  # the deleted file is gone


def test_dropping_an_image_restores_its_settings(emulator, tmp_path, page):  # noqa: F811
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        client = Client(url, verbose=False, analytics_enabled=False)
        make(client, "Dropped:\na two-line prompt", aspect="16:9", fmt="png")
        [entry] = app.service.history.page(everyone=True)
        page.goto(url)
        page.locator("#drop-settings input[type=file]").set_input_files(str(entry.path))
        expect(page.locator("#prompt textarea")).to_have_value("Dropped:\na two-line prompt")
        expect(page.locator("#aspect_ratio input")).to_have_value("16:9 landscape")
        expect(page.locator("#output_format input")).to_have_value("PNG")
