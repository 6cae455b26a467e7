"""Real bytes: what the browser loads now that the page shows previews, and what the app holds.

    python benchmarks/real_bytes.py [--entries 10000] [--users 64] [--latency 1.0] [--skip-memory | --only-memory]

All images are photo-sized (benchmarks/emulator_4k.py: the emulator plus google/nano-banana-pro).
The app and the emulator run as their own processes; the page runs in Debian's Chromium.

1. A finished 4-image click, imagen-4-fast 16:9 PNG and nano-banana-pro 4K 16:9 PNG: the bytes
   Chromium loaded to show the gallery's images, over the originals' bytes (target <= 5%); and the
   Download of one image, compared by sha256 with the file in the history.
2. A History page of 24 in a history of --entries: bytes to show it (tiles) over the 24 originals,
   and time from the History tab's click to the first tile shown, on loopback and on a link
   throttled to 10 Mbit/s (Chromium's network emulation); beside it, on the same throttled link,
   the time to fetch the newest original once (what the first look cost before previews).
3. Memory: --users visitors each make one 4K PNG at the same moment (Gradio's HTTP API, as
   playground_load does; the same prompt, so the emulator draws it once); the app's peak RSS over
   its idle RSS, beside what the click's files weigh (users x one file). Each visitor then fetches
   the image as its browser would (the preview).
The machine is shared: figures are noisy; the ratios are what count.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import io

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from history_scale import START, STEP, build  # noqa: E402
from playground_load import BROWSER_IMAGE, emulator_busy, free_port, process  # noqa: E402

TOKEN = "r8_benchmark"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FILE_ROUTE = "/gradio_api/file="
SLOW_LINK = {"offline": False, "latency": 40, "downloadThroughput": 10e6 / 8, "uploadThroughput": 5e6 / 8}
NANO, IMAGEN = "google/nano-banana-pro", "google/imagen-4-fast"


@contextmanager
def app(emulator: str, history: Path):
    port = free_port()
    args = ["app.py", "--api-base", emulator, "--port", str(port), "--history-dir", str(history),
            "--model", NANO, "--models", f"{NANO},{IMAGEN}"]
    env = {"REPLICATE_API_TOKEN": TOKEN, "GRADIO_ANALYTICS_ENABLED": "False"}
    with process(args, f"http://127.0.0.1:{port}/", env, timeout=60) as proc:
        yield f"http://127.0.0.1:{port}/", proc


class Loads:
    """Images the page loaded to show them (<img>, not a download's fetch): path -> bytes, first end."""

    def __init__(self, page) -> None:
        self.bytes: dict[str, int] = {}
        self.first_done: float | None = None
        page.on("requestfinished", self._record)

    def _record(self, request) -> None:
        at = request.url.find(FILE_ROUTE)
        if at >= 0 and request.resource_type == "image":
            path = unquote(request.url[at + len(FILE_ROUTE):])
            self.bytes[path] = self.bytes.get(path, 0) + request.sizes()["responseBodySize"]
            self.first_done = self.first_done or time.perf_counter()

    def total(self) -> int:
        return sum(self.bytes.values())


def images_shown(page, selector: str, count: int | None = None, timeout: float = 180_000) -> None:
    page.wait_for_function("""([sel, n]) => { const imgs = [...document.querySelectorAll(sel + ' img')];
        return imgs.length > 0 && (n === null || imgs.length >= n) && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
                           arg=[selector, count], timeout=timeout)
    page.wait_for_timeout(500)


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def files_in(history: Path) -> dict[str, Path]:
    return {str(p): p for p in (history / "images").rglob("*") if p.is_file()}


def click_bytes(browser, url: str, history: Path, model: str) -> tuple[int, int, float, bool]:
    """One 4-image click of `model` at 16:9 PNG (4K for nano-banana-pro): (bytes shown, bytes of the
    originals, seconds from the click to the last image shown, download == original)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.locator("body[data-shortcuts=ready]").wait_for(state="attached")
    prefix = "" if model == NANO else "imagen_4_fast-"
    if model != NANO:
        choose(page, "model", model)
    page.locator("#prompt textarea").fill(f"four red foxes in fresh snow, {model}")
    choose(page, f"{prefix}aspect_ratio", "16:9 landscape")
    choose(page, f"{prefix}output_format", "PNG")
    if model == NANO:
        choose(page, "resolution", "4K")
    count = page.locator("#num_images input[type=number]")
    count.fill("4")
    count.press("Enter")
    before = files_in(history)
    loads = Loads(page)
    started = time.perf_counter()
    page.locator("#generate" if model == NANO else "#generate-imagen_4_fast").click()
    # The gallery shows numbered tiles at once; the zip's button comes once all four are stored.
    page.locator("#download-all").wait_for(state="visible", timeout=300_000)
    images_shown(page, "#gallery", 4)
    took = time.perf_counter() - started
    new = {k: v for k, v in files_in(history).items() if k not in before}
    originals = sum(p.stat().st_size for p in new.values())
    with page.expect_download() as download_info:
        page.locator("#download").click()  # the first image's original
    download = download_info.value
    same = any(hashlib.sha256(Path(download.path()).read_bytes()).digest() == hashlib.sha256(p.read_bytes()).digest()
               for p in new.values() if p.name == download.suggested_filename)
    shown = sum(size for path, size in loads.bytes.items() if path in new)
    context.close()
    return shown, originals, took, same


def history_page(browser, url: str, history: Path, throttled: bool,
                 viewport: dict | None = None) -> dict:
    """Open the History tab in a fresh browser: bytes and times for its first page."""
    context = browser.new_context(viewport=viewport or {"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.locator("body[data-shortcuts=ready]").wait_for(state="attached")
    if throttled:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_LINK)
    loads = Loads(page)
    started = time.perf_counter()
    page.get_by_role("tab", name="History").click()
    page.wait_for_function("""() => [...document.querySelectorAll('#history-gallery img')]
        .some(i => i.complete && i.naturalWidth > 0)""", timeout=120_000)
    first = time.perf_counter() - started
    page.wait_for_timeout(1500)
    in_view = loads.total(), len(loads.bytes)
    page.mouse.wheel(0, 20_000)  # scroll the rest into view: lazy tiles load now
    images_shown(page, "#history-gallery", 24)
    newest = max(files_in(history).values(), key=lambda p: p.stat().st_size)  # one of the photo-sized ones
    original_seconds = page.evaluate("""async (path) => { const t = performance.now();
        const r = await fetch('gradio_api/file=' + encodeURI(path)); await r.arrayBuffer();
        return (performance.now() - t) / 1000; }""", str(newest))
    result = {"first": first, "in_view_bytes": in_view[0], "in_view_count": in_view[1], "bytes": loads.total(),
              "count": len(loads.bytes), "original_seconds": original_seconds, "original_bytes": newest.stat().st_size}
    context.close()
    return result


def build_history(root: Path, entries: int, emulator: str) -> int:
    """`entries` - 24 small entries, then the 24 newest photo-sized PNGs stored as the app does
    (with their previews). Returns the 24 originals' bytes."""
    from imagen_ui.store.history import History

    build(root, max(0, entries - 24))
    total = 0
    with History(root) as history, httpx.Client(base_url=emulator, timeout=120,
                                                headers={"Authorization": f"Bearer {TOKEN}"}) as h:
        for n in range(24):
            inputs = {"prompt": f"history page image {n}", "aspect_ratio": ["16:9", "1:1", "9:16"][n % 3],
                      "output_format": "png"}
            body = h.post(f"/v1/models/{IMAGEN}/predictions", json={"input": inputs},
                          headers={"Prefer": "wait=60"}).json()
            data = h.get(body["output"]).content
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
            entry = history.add(data=data, fmt="png", prediction_id=body["id"], model=IMAGEN, inputs=inputs,
                                created_at=START + STEP * entries + timedelta(seconds=n), predict_time=1.0,
                                width=width, height=height)
            total += entry.byte_size
    return total


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


async def call(http: httpx.AsyncClient, base: str, data: list) -> list:
    response = await http.post(f"{base}gradio_api/call/generate", json={"data": data})
    response.raise_for_status()
    event_id = response.json()["event_id"]
    event = None
    async with http.stream("GET", f"{base}gradio_api/call/generate/{event_id}") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise RuntimeError(line)
                return json.loads(line[5:])
    raise RuntimeError("no result")


def memory(url: str, pid: int, users: int) -> dict:
    """`users` simultaneous 4K PNG clicks: the app's peak RSS over its idle RSS."""
    info = httpx.get(f"{url}gradio_api/info", timeout=30).json()["named_endpoints"]["/generate"]
    values = {"prompt": "a 4K memory test", "aspect_ratio": "16:9", "resolution": "4K", "output_format": "png",
              "safety_filter_level": "block_only_high", "num_images": 1}
    data = [values.get(p["parameter_name"]) for p in info["parameters"]]
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM: the peak from here on
    idle = rss_kib(pid)
    peak = [idle]

    async def run() -> tuple[int, int]:
        limits = httpx.Limits(max_connections=users * 2, max_keepalive_connections=users * 2)
        async with httpx.AsyncClient(timeout=600, limits=limits) as http:
            async def sample() -> None:
                while True:
                    peak[0] = max(peak[0], rss_kib(pid))
                    await asyncio.sleep(0.05)

            sampler = asyncio.create_task(sample())

            async def one() -> tuple[int, int]:
                result = await call(http, url, data)
                item = result[0][0]["image"]
                shown = await http.get(item["url"], headers=BROWSER_IMAGE)
                return len(shown.content), os.path.getsize(item["path"])

            started = time.perf_counter()
            sizes = await asyncio.gather(*(one() for _ in range(users)))
            wall = time.perf_counter() - started
            sampler.cancel()
            return sizes, wall

    sizes, wall = asyncio.run(run())
    hwm = rss_kib(pid, "VmHWM")
    file_bytes = sizes[0][1]
    return {"idle_kib": idle, "peak_kib": max(hwm, peak[0]), "file_bytes": file_bytes, "users": users,
            "shown_bytes": sizes[0][0], "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--only-memory", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    emu_port = free_port()
    emulator = f"http://127.0.0.1:{emu_port}"
    with tempfile.TemporaryDirectory(prefix="real-bytes-") as scratch, \
            process(["benchmarks/emulator_4k.py", str(emu_port), str(args.latency)], f"{emulator}/v1/account"):
        if not args.only_memory:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                browser_figures(browser, emulator, Path(scratch), args.entries)
                browser.close()
        if not args.skip_memory:
            with app(emulator, Path(scratch) / "memory") as (url, proc):
                # Warm up: the first 4K click draws the emulator's grain and loads the app's decoders.
                asyncio.run(_warm(url))
                drawn = emulator_busy(emulator)
                figures = memory(url, proc.pid, args.users)
                drawn = emulator_busy(emulator) - drawn
            held = figures["users"] * figures["file_bytes"] / 1024
            growth = figures["peak_kib"] - figures["idle_kib"]
            print(f"3. {figures['users']} users x one 4K PNG ({figures['file_bytes'] / 1e6:.1f} MB each, "
                  f"{held / 1024 ** 2:.2f} GiB in all) at once: app RSS {figures['idle_kib'] / 1024:.0f} MiB idle, "
                  f"peak {figures['peak_kib'] / 1024:.0f} MiB: +{growth / 1024:.0f} MiB = "
                  f"{growth / held:.2f}x the click's files; wall {figures['wall']:.1f} s; each browser shown "
                  f"{figures['shown_bytes'] / 1e3:.0f} KB; the emulator spent {drawn:.2f} s of it drawing", flush=True)


def browser_figures(browser, emulator: str, scratch: Path, entries: int) -> None:
    clicks = scratch / "clicks"
    with app(emulator, clicks) as (url, _):
        for model, label in ((IMAGEN, "imagen-4-fast 16:9 PNG (1408x768)"),
                             (NANO, "nano-banana-pro 4K 16:9 PNG (5504x3072)")):
            shown, originals, took, same = click_bytes(browser, url, clicks, model)
            print(f"1. {label}, 4 images: the page loaded {shown / 1e3:.0f} KB to show them; the originals "
                  f"are {originals / 1e6:.1f} MB: {100 * shown / originals:.2f}% (target <= 5%); click to last "
                  f"image shown {took:.1f} s; Download == the history's file (sha256): {same}", flush=True)

    listing = scratch / "history"
    page_originals = build_history(listing, entries, emulator)
    with app(emulator, listing) as (url, _):
        fast = history_page(browser, url, listing, throttled=False)
        phone = history_page(browser, url, listing, throttled=False, viewport={"width": 390, "height": 844})
        slow = history_page(browser, url, listing, throttled=True)
    print(f"2. History page of 24 in {entries} entries: {fast['bytes'] / 1e3:.0f} KB for its 24 tiles, against "
          f"{page_originals / 1e6:.1f} MB for the 24 originals: {100 * fast['bytes'] / page_originals:.2f}%. "
          f"Loaded before any scrolling (lazy): {fast['in_view_count']} tiles at 1440x900, "
          f"{phone['in_view_count']} at 390x844 ({phone['in_view_bytes'] / 1e3:.0f} KB). Time to first preview: "
          f"{fast['first']:.2f} s on loopback, {slow['first']:.2f} s on a 10 Mbit/s link, where one original "
          f"({slow['original_bytes'] / 1e6:.1f} MB) takes {slow['original_seconds']:.2f} s", flush=True)


async def _warm(url: str) -> None:
    info = httpx.get(f"{url}gradio_api/info", timeout=30).json()["named_endpoints"]["/generate"]
    values = {"prompt": "warm up", "aspect_ratio": "16:9", "resolution": "4K", "output_format": "png",
              "safety_filter_level": "block_only_high", "num_images": 1}
    async with httpx.AsyncClient(timeout=600) as http:
        await call(http, url, [values.get(p["parameter_name"]) for p in info["parameters"]])


if __name__ == "__main__":
    main()
