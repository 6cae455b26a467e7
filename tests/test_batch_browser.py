"""Batch mode in real headless Chromium: paste prompts, watch rows land, cancel, download the zip."""

from __future__ import annotations

import csv
import io
import os
import zipfile

import pytest
from playground import serve
from playwright.sync_api import expect

SHOTS = os.environ.get("IMAGEN_UI_SCREENSHOTS")  # a folder: also save screenshots there


@pytest.fixture
def site(make_emulator, tmp_path):
    emulator = make_emulator(latency=0.3)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        yield url, emulator, app


def open_batch(page, url):
    page.goto(url)
    page.locator("#batch").get_by_text("Batch: many prompts in one go").click()
    expect(page.locator("#batch-prompts textarea")).to_be_visible()


def test_three_pasted_prompts_land_as_three_rows_and_download_as_one_zip(site, page, tmp_path):
    url, emulator, app = site
    open_batch(page, url)
    page.locator("#batch-prompts textarea").fill("a red fox in snow\n\nan owl at dusk\na heron <b>wading</b>")
    page.locator("#batch-run").click()
    rows = page.locator("#batch-rows tr.batch-row")
    expect(rows).to_have_count(3)
    expect(page.locator("#batch-rows tr.batch-succeeded")).to_have_count(3, timeout=15000)
    expect(page.locator("#batch-rows tr.batch-row img")).to_have_count(3)
    assert page.locator("#batch-rows tr.batch-row").nth(2).locator("td.batch-prompt").inner_text() == \
        "a heron <b>wading</b>"  # shown as text, never as markup
    assert [rows.nth(i).get_attribute("data-line") for i in range(3)] == ["1", "3", "4"]
    # Thumbnails are the stored files, served.
    assert page.locator("#batch-rows img").first.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.locator("#batch-summary")).to_contain_text("Finished: 3 images")
    download_button = page.locator("#batch-download")
    expect(download_button).to_be_visible()
    with page.expect_download() as info:
        download_button.click()
    path = tmp_path / "batch.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as zipped:
        rows_csv = list(csv.DictReader(io.StringIO(zipped.read("batch.csv").decode())))
        assert [r["prompt"] for r in rows_csv] == ["a red fox in snow", "an owl at dusk", "a heron <b>wading</b>"]
        for row in rows_csv:
            entry = app.service.history.get_by_prediction(row["prediction_id"])
            assert zipped.read(row["file"]) == entry.path.read_bytes()
    assert len(emulator.predictions()) == 3
    if SHOTS:
        shoot(page, url)


def test_cancel_stops_what_has_not_finished_and_keeps_what_has(site, page):
    url, emulator, app = site
    emulator.set_latency(3.0)  # longer than a create's sync window: cancels find them running
    open_batch(page, url)
    page.locator("#batch-prompts textarea").fill("\n".join(f"slow prompt {i}" for i in range(10)))
    page.locator("#batch-run").click()
    expect(page.locator("#batch-rows tr.batch-running")).to_have_count(4, timeout=10000)
    page.locator("#batch-cancel").click()
    expect(page.locator("#batch-summary")).to_contain_text("Batch cancelled")
    expect(page.locator("#batch-rows tr.batch-canceled")).to_have_count(10)
    page.wait_for_timeout(3500)  # the cancels reach the emulator once the creates answer
    sent = emulator.predictions()
    assert len(sent) == 4 and {p["status"] for p in sent} == {"canceled"}
    assert app.service.history.count(everyone=True) == 0


def test_a_bad_line_is_reported_by_number_and_nothing_is_sent(site, page):
    url, emulator, _ = site
    open_batch(page, url)
    page.locator("#batch-prompts textarea").fill("fine\n" + "x" * 2100)
    page.locator("#batch-run").click()
    expect(page.get_by_text("Line 2: The prompt is 2,100 characters long")).to_be_visible()
    assert emulator.predictions() == []


def shoot(page, url):
    """Screenshots at desktop and phone sizes, light and dark, of a finished batch."""
    for width, height in ((1440, 900), (390, 844)):
        for theme in ("light", "dark"):
            page.set_viewport_size({"width": width, "height": height})
            page.goto(url + ("?__theme=dark" if theme == "dark" else ""))
            page.locator("#batch").get_by_text("Batch: many prompts in one go").click()
            page.locator("#batch-prompts textarea").fill(
                "a red fox curled up asleep in fresh snow at dawn\nan owl at dusk over a misty field\n"
                "isometric cutaway of a tiny cozy bookshop on a rainy evening")
            page.locator("#batch-run").click()
            expect(page.locator("#batch-summary")).to_contain_text("Finished", timeout=15000)
            page.locator("#batch").scroll_into_view_if_needed()
            page.screenshot(path=os.path.join(SHOTS, f"batch-{width}x{height}-{theme}.png"), full_page=True)
