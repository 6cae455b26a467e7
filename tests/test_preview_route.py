"""The file route with previews, over plain HTTP: who gets a preview, who the original, and what a
hostile path gets (nothing new: Gradio's own checks still run)."""

from __future__ import annotations

import io
from urllib.parse import quote

import httpx
import pytest
from conftest import wait_until
from gradio_client import Client
from PIL import Image
from playground import serve

BROWSER_IMAGE = {"Sec-Fetch-Dest": "image", "Accept": "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"}
PLAIN_HTTP_IMAGE = {"Accept": "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"}  # no Fetch Metadata
DOWNLOAD = {"Sec-Fetch-Dest": "empty", "Accept": "*/*"}


@pytest.fixture
def stored(make_emulator, tmp_path):
    emulator = make_emulator(latency=0.05)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        client = Client(url, verbose=False, analytics_enabled=False, download_files=str(tmp_path / "dl"))
        gallery, _ = client.predict("a heron at dawn", "16:9", "png", "block_only_high", 1, api_name="/generate")
        [original] = list(app.service.history.images_dir.rglob("*.png"))
        yield url, app, original, gallery[0]["image"]


def get(url: str, path, headers: dict) -> httpx.Response:
    return httpx.get(f"{url}gradio_api/file={quote(str(path))}", headers=headers, timeout=10)


def test_an_image_load_gets_the_preview_everything_else_the_original(stored):
    url, app, original, from_api = stored
    assert open(from_api, "rb").read() == original.read_bytes()  # the API: the original, as stored
    for headers in (BROWSER_IMAGE, PLAIN_HTTP_IMAGE):
        shown = get(url, original, headers)
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/webp"
        assert "Sec-Fetch-Dest" in shown.headers["vary"]
        with Image.open(io.BytesIO(shown.content)) as preview:
            assert preview.size == (1024, 559)
    for headers in (DOWNLOAD, {"Sec-Fetch-Dest": "document"}, {}):
        answer = get(url, original, headers)
        assert answer.content == original.read_bytes(), headers
        assert "Sec-Fetch-Dest" in answer.headers["vary"]


def test_a_missing_preview_is_made_when_asked_for(stored):
    url, app, original, _ = stored
    for preview in app.service.history.previews_dir.rglob("*.webp"):
        preview.unlink()
    assert get(url, original, BROWSER_IMAGE).headers["content-type"] == "image/webp"


def test_hostile_paths_get_no_more_than_before(stored):
    url, app, original, _ = stored
    root = app.service.history.root
    for path in (root / "history.sqlite3", f"{root}/images/../history.sqlite3", f"{original}/../../../history.sqlite3",
                 "/etc/passwd", f"{original}.1024.webp"):
        for headers in (BROWSER_IMAGE, DOWNLOAD):
            answer = get(url, path, headers)
            assert answer.status_code in (403, 404), (path, headers, answer.status_code)
            assert b"SQLite" not in answer.content


def test_the_tile_is_made_soon_after_the_click_without_anyone_asking(stored):
    _, app, original, _ = stored
    tile = app.service.history.previews_dir / original.parent.name / f"{original.name}.384.webp"
    wait_until(tile.exists, timeout=5, message="no History tile was made")  # in the background
