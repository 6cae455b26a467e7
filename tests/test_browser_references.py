"""Reference images in real Chromium: drop them on a model, generate, use a result as the next input,
and the page's way off a model Replicate withdrew."""

from __future__ import annotations

import base64
import io
import re

import pytest
from conftest import wait_until
from PIL import Image
from playground import choose, serve
from playwright.sync_api import expect

from imagen_ui.emulator.thumbnails import boxes

NANO = "google/nano-banana-pro"
IMAGEN = ("google/imagen-4-fast", "google/imagen-4-ultra", "google/imagen-4")
pytestmark = pytest.mark.timeout(120)

DROP_JS = """([selector, files]) => {
  const transfer = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.data), c => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, {type: f.type}));
  }
  const target = document.querySelector(selector);
  for (const type of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
  }
}"""


def png(colour, size=(640, 360)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def drop(page, elem_id: str, files: dict[str, bytes]) -> None:
    """Drop files on an image input the way a person drags them from their desktop."""
    payload = [{"name": name, "type": "image/png", "data": base64.b64encode(data).decode()}
               for name, data in files.items()]
    target = f"#{elem_id} button.upload-container"
    page.locator(target).wait_for()
    page.evaluate(DROP_JS, [target, payload])


def near(pixel, colour, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


@pytest.fixture
def site(make_emulator, tmp_path):
    emulator = make_emulator(latency=0.3)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        yield app, url, emulator


def test_two_dropped_images_reach_nano_banana_pro_then_a_result_is_the_next_input(site, page):
    app, url, emulator = site
    page.goto(url)
    choose(page, "model", NANO)
    red, blue = png((255, 0, 0)), png((0, 0, 255), (300, 300))
    drop(page, "nano_banana_pro-image_input", {"red.png": red, "blue.png": blue})
    references = page.locator("#nano_banana_pro-image_input .thumbnail-item")
    expect(references).to_have_count(2, timeout=10_000)
    choose(page, "nano_banana_pro-resolution", "1K (about 1 megapixel)")
    page.locator("#prompt textarea").fill("a cat in the red room")
    page.locator("#generate-nano_banana_pro").click()
    expect(page.locator("#status")).to_contain_text("done in", timeout=20_000)
    result = page.locator("#gallery button.thumbnail-item img")
    expect(result).to_have_count(1)
    expect(page.locator('#gallery img[src*="nano-banana-pro_"]').first).to_be_visible()

    # The emulator's records: two Files API uploads, and a prediction whose image_input holds their URLs.
    assert emulator.count("POST", "/v1/files") == 2
    by_content = {emulator.file_bytes(f["id"]): f["urls"]["get"] for f in emulator.files()}
    [prediction] = emulator.predictions()
    assert prediction["model"] == NANO
    assert prediction["input"]["image_input"] == [by_content[red], by_content[blue]]
    [entry] = app.service.history.page(everyone=True)
    with Image.open(entry.path) as made:
        cells = [made.convert("RGB").getpixel(((l + r) // 2, (t + b) // 2)) for l, t, r, b in boxes(made.size, 2)]
    assert near(cells[0], (255, 0, 0)) and near(cells[1], (0, 0, 255)), cells  # what the model was given

    # "Use as input" on the generated image, then generate again: it is the third reference.
    page.locator("#use-as-input").click()
    expect(references).to_have_count(3)
    page.locator("#prompt textarea").fill("now make the sky pink")
    page.locator("#generate-nano_banana_pro").click()
    expect(page.locator('#gallery img[src*="now-make-the-sky-pink"]').first).to_be_visible(timeout=20_000)
    newest = emulator.predictions()[0]
    assert len(newest["input"]["image_input"]) == 3
    sent = [emulator.file_bytes(u.rsplit("/", 1)[1]) for u in newest["input"]["image_input"]]
    assert sent[2] == entry.path.read_bytes()  # the kept original, parameters and all
    assert emulator.count("POST", "/v1/files") == 5  # each click uploads its own images once


def test_the_order_of_reference_images_can_be_changed_and_one_removed(site, page):
    _, url, emulator = site
    page.goto(url)
    choose(page, "model", NANO)
    colours = {"a.png": png((250, 0, 0)), "b.png": png((0, 250, 0)), "c.png": png((0, 0, 250))}
    drop(page, "nano_banana_pro-image_input", colours)
    items = page.locator("#nano_banana_pro-image_input .thumbnail-item")
    expect(items).to_have_count(3, timeout=10_000)
    pictures = page.locator("#nano_banana_pro-image_input .thumbnail-item img")
    earlier = page.locator("#nano_banana_pro-image_input-earlier")
    items.nth(2).click()
    expect(earlier).to_be_visible()
    page.wait_for_timeout(300)  # the selection reaches the server before the first move
    earlier.click()
    expect(pictures.nth(1)).to_have_attribute("src", re.compile(r"c\.png"))
    earlier.click()
    expect(pictures.nth(0)).to_have_attribute("src", re.compile(r"c\.png"))  # c is first now
    items.nth(2).hover()
    page.locator("#nano_banana_pro-image_input").get_by_label("Delete image").nth(2).click()
    expect(items).to_have_count(2)
    page.locator("#prompt textarea").fill("ordered")
    page.locator("#generate-nano_banana_pro").click()
    expect(page.locator("#status")).to_contain_text("done in", timeout=20_000)
    [prediction] = emulator.predictions()
    sent = [emulator.file_bytes(u.rsplit("/", 1)[1]) for u in prediction["input"]["image_input"]]
    assert sent == [colours["c.png"], colours["a.png"]]


def test_a_bad_file_is_refused_on_the_page_and_nothing_is_sent(site, page):
    _, url, emulator = site
    page.goto(url)
    choose(page, "model", NANO)
    page.locator("#nano_banana_pro-image_input input[type=file]").set_input_files(
        [{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image at all"}])
    toasts = page.locator(".toast-body")
    expect(toasts.first).to_contain_text("notes.png is not an image", timeout=10_000)  # said when dropped
    page.locator("#prompt textarea").fill("p")
    page.locator("#generate-nano_banana_pro").click()
    expect(toasts).to_have_count(2, timeout=10_000)
    expect(toasts.last).to_contain_text("Check the form")  # and the click is refused
    expect(toasts.last).to_contain_text("notes.png is not an image")
    assert emulator.count("POST", "/v1/files") == 0 and emulator.predictions() == []


def test_the_page_opens_on_the_successor_when_imagen_is_retired(make_emulator, tmp_path, page):
    emulator = make_emulator(latency=0.2, retire=list(IMAGEN))
    with serve(tmp_path / "o", api_base=emulator.base_url) as (app, url):
        assert app.service.default_model == NANO
        page.goto(url)
        notice = page.locator("#model-notice")
        expect(notice).to_contain_text("google/imagen-4-fast is no longer available on Replicate")
        expect(notice).to_contain_text(f"opened on {NANO}")
        expect(page.locator("#model input")).to_have_value(NANO)
        expect(page.locator("#generate")).to_be_visible()  # the page's own form is the successor's
        page.locator("#model input").click()
        expect(page.get_by_role("option", name="google/imagen-4-fast (retired)", exact=True)).to_be_visible()
        page.keyboard.press("Escape")
        page.locator("#prompt textarea").fill("after Imagen")
        page.locator("#generate").click()
        expect(page.locator("#status")).to_contain_text("done in", timeout=20_000)
        page.get_by_role("tab", name="Compare").click()
        expect(page.locator("#compare-models")).not_to_contain_text("imagen-4")
    assert {p["model"] for p in emulator.predictions()} == {NANO}
    assert not any(r.path.startswith("/v1/models/google/imagen-4") and r.method == "POST" for r in emulator.requests)


def test_a_model_withdrawn_mid_session_moves_the_picker_once(make_emulator, tmp_path, page):
    emulator = make_emulator(latency=0.2)
    with serve(tmp_path / "o", api_base=emulator.base_url) as (app, url):
        page.goto(url)
        emulator.retire("google/imagen-4-fast")
        page.locator("#prompt textarea").fill("still there?")
        page.locator("#generate").click()
        notice = page.locator("#model-notice")
        expect(notice).to_contain_text("google/imagen-4-fast is no longer available", timeout=15_000)
        expect(page.locator("#model input")).to_have_value("google/imagen-4-ultra")
        assert app.service.catalog["google/imagen-4-fast"].retired
        page.reload()
        expect(page.locator("#model input")).to_have_value("google/imagen-4-ultra")
        expect(page.locator("#model-notice")).to_contain_text("opened on google/imagen-4-ultra")


def test_history_shows_what_an_image_was_made_from_and_reuse_restores_it(site, page):
    app, url, emulator = site
    page.goto(url)
    choose(page, "model", NANO)
    red, green = png((255, 0, 0)), png((0, 200, 0), (200, 200))
    drop(page, "nano_banana_pro-image_input", {"red.png": red, "green.png": green})
    references = page.locator("#nano_banana_pro-image_input .thumbnail-item")
    expect(references).to_have_count(2, timeout=10_000)
    page.locator("#prompt textarea").fill("remember what I was made from")
    page.locator("#generate-nano_banana_pro").click()
    expect(page.locator("#status")).to_contain_text("done in", timeout=20_000)
    references.first.hover()
    for _ in range(2):  # empty the input again
        page.locator("#nano_banana_pro-image_input").get_by_label("Delete image").first.click()
    expect(references).to_have_count(0)

    page.get_by_role("tab", name="History").click()
    page.locator("#history-gallery button.thumbnail-item").first.click()
    made_from = page.locator("#history-inputs img")
    expect(made_from).to_have_count(2)
    expect(page.locator("#history-about")).to_contain_text("2 images (under Made from)")
    page.locator("#history-reuse").click()
    expect(page.locator("#prompt textarea")).to_have_value("remember what I was made from")
    expect(references).to_have_count(2)  # the kept copies, not Replicate's expired uploads
    # "Use as input" from History: the image itself goes in as a third reference.
    page.get_by_role("tab", name="History").click()
    page.locator("#history-gallery button.thumbnail-item").first.click()
    page.locator("#history-use-as-input").click()
    expect(references).to_have_count(3)
    page.locator("#generate-nano_banana_pro").click()
    wait_until(lambda: len(app.service.history.page(everyone=True)) == 2, timeout=20)
    newest = emulator.predictions()[0]
    sent = [emulator.file_bytes(u.rsplit("/", 1)[1]) for u in newest["input"]["image_input"]]
    entry = app.service.history.page(everyone=True)[-1]  # the first one, made from red and green
    assert sent == [red, green, entry.path.read_bytes()]


def test_a_compared_image_can_be_the_next_input(site, page):
    app, url, emulator = site
    page.goto(url)
    page.get_by_role("tab", name="Compare").click()
    page.locator("#compare-prompt textarea").fill("side by side")
    page.locator("#compare-run").click()
    wait_until(lambda: len(app.service.history.page(everyone=True)) == app.service.max_compare, timeout=20)
    tiles = page.locator('#compare-gallery button.thumbnail-item img[src*="side-by-side"]')
    expect(tiles).to_have_count(app.service.max_compare)
    tiles.first.click()
    page.locator("#compare-use-as-input").click()
    # The picked model (imagen-4-fast) takes no image: the first model that does gets it.
    expect(page.locator("#model input")).to_have_value(NANO)
    expect(page.locator("#nano_banana_pro-image_input .thumbnail-item")).to_have_count(1)
