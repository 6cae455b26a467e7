"""The playground as a person meets it (issue 14), in real Chromium: tiles, click state, errors."""

from __future__ import annotations

import re
import zipfile

import pytest
from playground import serve
from playwright.sync_api import expect


@pytest.fixture
def site(make_emulator, tmp_path):
    emulator = make_emulator(latency=0.3)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        yield url, emulator


@pytest.fixture
def slow_site(make_emulator, tmp_path):
    emulator = make_emulator(latency=2.0)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        yield url, emulator


def tile_captions(page) -> list[str]:
    return page.locator("#gallery .caption-label").all_inner_texts()


def test_every_image_has_a_numbered_tile_from_the_click_on_and_keeps_it(slow_site, page):
    url, emulator = slow_site
    page.goto(url)
    page.locator("#prompt textarea").fill("three foxes")
    page.locator("#num_images input[type=number]").fill("3")
    page.locator("#num_images input[type=number]").press("Enter")
    emulator.inject_fault("POST", "/v1/models/", "e005", times=1)  # the first image fails
    page.locator("#generate").click()
    # Placeholders, numbered, long before any image exists (latency 2 s).
    expect(page.locator("#gallery .caption-label")).to_have_count(3, timeout=1500)
    assert [c.split(" · ")[0] for c in tile_captions(page)] == ["1", "2", "3"]
    expect(page.locator("#status")).to_contain_text("done in", timeout=15_000)
    expect(page.locator("#gallery .caption-label").nth(2)).to_contain_text("done", timeout=15_000)
    captions = tile_captions(page)
    failed = [c for c in captions if "failed" in c]
    assert len(captions) == 3 and len(failed) == 1 and "safety filter" in failed[0]
    # Images are described for screen readers, and the status is announced as it changes.
    assert "three foxes" in page.locator("#gallery img").first.get_attribute("alt")
    assert page.locator("#status").get_attribute("aria-live") == "polite"


def test_generate_says_it_is_working_and_cancel_is_live_only_then(slow_site, page):
    url, emulator = slow_site
    page.goto(url)
    cancel = page.locator("#cancel")
    expect(page.locator("body")).to_have_attribute("data-shortcuts", "ready")
    live = re.compile(r"\blive\b")
    expect(cancel).not_to_have_class(live)
    page.locator("#prompt textarea").fill("a slow one")
    page.locator("#generate").click()
    expect(cancel).to_have_class(live, timeout=1000)
    generate = page.locator("#generate")
    expect(generate).to_have_attribute("aria-disabled", "true")
    assert generate.evaluate("b => getComputedStyle(b, '::after').content") == '"Generating…"'
    page.locator("#prompt textarea").press("Control+Enter")  # a second click is not taken
    expect(page.locator("#status")).to_contain_text("done in", timeout=15_000)
    expect(cancel).not_to_have_class(live, timeout=2000)
    expect(generate).to_have_attribute("aria-disabled", "false")
    assert len(emulator.predictions()) == 1


def test_a_failed_click_says_why_once_with_a_title_and_nothing_covers_the_sentence(make_emulator, tmp_path,
                                                                                     page):
    emulator = make_emulator(latency=0.05)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (_, url):
        page.goto(url)
        page.locator("#prompt textarea").fill("FLAGGED content")
        page.locator("#generate").click()
        line = page.locator("#status p").first
        expect(line).to_contain_text("safety filter", timeout=10_000)
        toast = page.locator(".toast-body")
        expect(toast.locator(".toast-title")).to_have_text("No image was made", timeout=5000)
        expect(toast.locator(".toast-message-text")).to_have_text(re.compile(r"^Google's safety"))
        # No badge over the status sentence or the tile.
        badges = page.locator("#status .error, #gallery .error")
        assert all(not badge.is_visible() for badge in badges.all())
        # The next refused click replaces the message instead of piling up a second one.
        page.locator("#prompt textarea").fill("")
        page.locator("#generate").click()
        expect(page.locator(".toast-message-text:visible")).to_have_count(1, timeout=5000)


def test_on_a_phone_the_results_come_into_view_after_generate(make_emulator, tmp_path, browser):
    emulator = make_emulator(latency=0.5)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (_, url):
        context = browser.new_context(viewport={"width": 390, "height": 844})
        phone = context.new_page()
        phone.goto(url)
        phone.locator("#prompt textarea").fill("in view")
        gallery = phone.locator("#gallery")
        assert not _in_view(gallery)  # below the form at first
        phone.locator("#generate").click()
        expect(phone.locator("#gallery .caption-label")).to_have_count(1, timeout=3000)
        phone.wait_for_function("() => { const r = document.getElementById('gallery').getBoundingClientRect();"
                                " return r.top >= -1 && r.top < innerHeight / 2; }", timeout=3000)
        context.close()


def test_a_prompt_near_its_limit_shows_a_counter(site, page):
    url, _ = site
    page.goto(url)
    box = page.locator("#prompt textarea")
    box.fill("x" * 100)
    counter = page.locator("#prompt .prompt-count")
    expect(counter).to_have_text("")
    box.fill("x" * 1900)  # imagen-4-fast: 2,000 characters
    expect(counter).to_have_text("1,900 / 2,000 characters")
    box.fill("x" * 2100)
    expect(counter).to_have_class(re.compile(r"\bover\b"))


def _in_view(locator) -> bool:
    return locator.evaluate("e => e.getBoundingClientRect().top < innerHeight")


def test_download_and_download_all_give_the_originals_under_the_clicks_name(make_emulator, tmp_path,
                                                                            page):
    emulator = make_emulator(latency=0.05)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        page.goto(url)
        page.locator("#prompt textarea").fill("Two foxes, one zip")
        page.locator("#num_images input[type=number]").fill("2")
        page.locator("#num_images input[type=number]").press("Enter")
        page.locator("#generate").click()
        everything = page.locator("#download-all")
        expect(everything).to_be_visible(timeout=10_000)
        expect(everything).to_contain_text("Download all 2")
        with page.expect_download() as caught:
            everything.click()
        name = caught.value.suggested_filename
        assert re.fullmatch(r"imagen-4-fast_\d{8}-\d{6}_two-foxes-one-zip\.zip", name), name
        stored = {e.path.name: e.path.read_bytes() for e in app.service.history.page(everyone=True)}
        with zipfile.ZipFile(caught.value.path()) as archive:
            assert {n: archive.read(n) for n in archive.namelist()} == stored  # the exact files
        page.locator("#gallery .thumbnail-item").nth(1).click()
        one = page.locator("#download")
        expect(one).to_contain_text("Download image 2")
        with page.expect_download() as caught:
            one.click()
        assert stored[caught.value.suggested_filename] == open(caught.value.path(), "rb").read()


CONTRAST_JS = """() => {
  const luminance = (color) => {
    const [r, g, b] = color.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const color = getComputedStyle(el).backgroundColor;
      if (color && !color.startsWith("rgba(0, 0, 0, 0)") && color !== "transparent") return color;
    }
    return "rgb(255, 255, 255)";
  };
  return [...document.querySelectorAll('.info-text, [data-testid="block-info"], #notify-me, .prompt-count')]
    .filter((el) => el.offsetParent !== null)
    .map((el) => { const a = luminance(getComputedStyle(el).color), b = luminance(background(el));
                   return [el.textContent.slice(0, 30), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]; });
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_help_text_meets_wcag_aa_contrast(site, page, theme):
    url, _ = site
    page.goto(f"{url.rstrip('/')}/?__theme={theme}")
    page.locator("#prompt textarea").fill("x" * 1700)  # shows the counter too
    expect(page.locator("#prompt .prompt-count")).not_to_have_text("")
    ratios = page.evaluate(CONTRAST_JS)
    assert sum(1 for text, _ in ratios if text.startswith("The shape of the image")) == 1  # help is measured
    assert len(ratios) >= 5
    assert all(ratio >= 4.5 for _, ratio in ratios), ratios
