"""download(): which URLs, which credentials, how many bytes, and what they must be.

Real loopback HTTP against the emulator. The cases that need a second origin of our own (a mirror,
a foreign host, a redirector) are in test_replicate_client_scripted.py.
"""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from client_helpers import image_bytes
from PIL import Image

from imagen_ui.replicate.client import DownloadError, ReplicateClient
from imagen_ui.replicate.downloads import DownloadPolicy

pytestmark = pytest.mark.anyio

MODEL = "google/imagen-4-fast"
TOKEN = "r8_download_test_token"




async def emulator_output(client: ReplicateClient, output_format: str = "jpg") -> str:
    prediction = await client.run(MODEL, {"prompt": "a red kite", "output_format": output_format})
    return prediction.output


# -- the good path ----------------------------------------------------------------------------------


async def test_downloads_the_exact_bytes_the_emulator_served(emulator) -> None:
    async with ReplicateClient(TOKEN, base_url=emulator.base_url) as client:
        url = await emulator_output(client, "png")
        download = await client.download(url, expected_format="png")
    served = httpx.get(url).content
    assert download.data == served
    assert (download.format, download.content_type, download.url) == ("png", "image/png", url)
    assert (download.width, download.height) == Image.open(io.BytesIO(served)).size
    assert client.calls["download"] == 1
    assert "bytes" in repr(download) and len(repr(download)) < 200


@pytest.mark.parametrize("expected", ["jpg", "jpeg", "JPEG", None])
async def test_jpg_and_jpeg_are_the_same_format(emulator, expected: str | None) -> None:
    async with ReplicateClient(TOKEN, base_url=emulator.base_url) as client:
        download = await client.download(await emulator_output(client, "jpg"), expected_format=expected)
    assert download.format == "jpg" and download.content_type == "image/jpeg"


async def test_data_url_is_decoded(emulator) -> None:
    data = image_bytes("PNG")
    async with ReplicateClient(TOKEN, base_url=emulator.base_url) as client:
        download = await client.download("data:image/png;base64," + base64.b64encode(data).decode())
    assert download.data == data and download.format == "png" and (download.width, download.height) == (64, 48)


# -- refused before any request ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/out.png",
        "file:///etc/passwd",
        "gopher://example.com/x",
        "javascript:alert(1)",
        "/files/relative.png",
        "http://example.com/out.png",  # plain http to a host that is neither the API nor configured
    ],
)
async def test_disallowed_urls_are_refused(emulator, url: str) -> None:
    async with ReplicateClient(TOKEN, base_url=emulator.base_url) as client:
        with pytest.raises(DownloadError):
            await client.download(url)


# -- where the token goes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "with_token"),
    [
        ("https://replicate.delivery/xezq/abc/out.jpg", True),
        ("https://pbxt.replicate.delivery/abc/out.jpg", True),
        ("https://api.replicate.com/v1/files/abc", True),
        ("http://replicate.delivery/xezq/abc/out.jpg", False),
        ("https://replicate.delivery.evil.example/out.jpg", False),
        ("https://evilreplicate.delivery/out.jpg", False),
        ("https://api.replicate.com:8443/v1/files/abc", False),
        ("https://example.com/out.jpg", False),
    ],
)
def test_token_rule_for_replicate_hosts(url: str, with_token: bool) -> None:
    policy = DownloadPolicy("https://api.replicate.com")
    assert policy.may_authenticate(httpx.URL(url)) is with_token


# -- what comes back --------------------------------------------------------------------------------


async def test_oversize_download_is_refused(emulator) -> None:
    async with ReplicateClient(TOKEN, base_url=emulator.base_url, max_download_bytes=10_000) as client:
        url = await emulator_output(client, "png")
        with pytest.raises(DownloadError, match="larger"):
            await client.download(url)


async def test_oversize_data_url_is_refused(emulator) -> None:
    async with ReplicateClient(TOKEN, base_url=emulator.base_url, max_download_bytes=1000) as client:
        with pytest.raises(DownloadError, match="larger"):
            await client.download("data:image/png;base64," + base64.b64encode(image_bytes(size=(300, 300))).decode())


async def test_wrong_format_is_refused(emulator) -> None:
    async with ReplicateClient(TOKEN, base_url=emulator.base_url) as client:
        url = await emulator_output(client, "jpg")
        with pytest.raises(DownloadError, match="expected a png"):
            await client.download(url, expected_format="png")


async def test_decompression_bomb_guard_stays_on(emulator, monkeypatch) -> None:
    async with ReplicateClient(TOKEN, base_url=emulator.base_url) as client:
        url = await emulator_output(client, "png")  # 1024x1024
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 700_000)  # 1 M pixels: over the limit -> warning
        with pytest.raises(DownloadError, match="decompression"):
            await client.download(url)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # over twice the limit -> error
        with pytest.raises(DownloadError, match="decompression"):
            await client.download(url)


async def test_missing_file_is_a_download_error_with_status(emulator) -> None:
    async with ReplicateClient(TOKEN, base_url=emulator.base_url) as client:
        with pytest.raises(DownloadError) as info:
            await client.download(f"{emulator.base_url}/files/nope/out.png")
    assert info.value.status == 404 and client.calls["download"] == 1  # a 404 is final
