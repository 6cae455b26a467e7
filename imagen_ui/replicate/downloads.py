"""Fetching a prediction's output file safely: which URLs, which credentials, how big, what bytes.

Rules (each hop of a redirect chain is checked again):
- allowed: `https:` URLs, `data:` URLs with base64 image data, the API's own origin (e.g. the emulator on
  loopback), and any extra origins configured for mirrors and tests;
- the Authorization header goes only to the API origin and to Replicate's delivery hosts
  (replicate.delivery, *.replicate.delivery) over https, and never again once a redirect left them;
- at most `max_bytes` are read; the bytes must decode as an image (Pillow's decompression-bomb guard on),
  of the expected format when one is given. The bytes are returned exactly as served.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

import httpx
from PIL import Image

from imagen_ui.replicate.errors import DownloadError

__all__ = ["Download", "DownloadPolicy", "inspect_image", "normalize_format"]

Origin = tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_REDIRECTS = 5
_FORMAT_NAMES = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}
_CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}


@dataclass(frozen=True)
class Download:
    """A downloaded output file: the exact bytes, what they are, and where they came from."""

    data: bytes = field(repr=False)
    content_type: str
    format: str  # "jpg", "png", "webp", ...
    width: int
    height: int
    url: str

    def __repr__(self) -> str:
        url = self.url if len(self.url) <= 80 else self.url[:77] + "..."
        return f"Download({self.format} {self.width}x{self.height}, {len(self.data)} bytes, url={url!r})"


def normalize_format(name: str) -> str:
    """'JPEG'/'jpeg'/'jpg' -> 'jpg', 'PNG' -> 'png', ...: one spelling to compare formats by."""
    upper = name.strip().lstrip(".").upper()
    return "jpg" if upper in ("JPG", "JPEG") else _FORMAT_NAMES.get(upper, upper.lower())


def origin_of(url: str | httpx.URL) -> Origin | None:
    """(scheme, host, port) with default ports filled in, or None for URLs without a host."""
    parsed = httpx.URL(url) if isinstance(url, str) else url
    if not parsed.host or parsed.scheme not in _DEFAULT_PORTS:
        return None
    return parsed.scheme, parsed.host.lower(), parsed.port or _DEFAULT_PORTS[parsed.scheme]


def _is_delivery_host(origin: Origin) -> bool:
    scheme, host, _ = origin
    return scheme == "https" and (host == "replicate.delivery" or host.endswith(".replicate.delivery"))


class DownloadPolicy:
    """Decides, per URL, whether it may be fetched and whether it may carry the API token."""

    def __init__(self, api_base_url: str, extra_origins: Iterable[str] = ()) -> None:
        api_origin = origin_of(api_base_url)
        if api_origin is None:
            raise ValueError("base_url must be an http(s) URL")
        self.api_origin: Origin = api_origin
        extras = {origin_of(o) for o in extra_origins}
        if None in extras:
            raise ValueError("extra_download_origins must be http(s) origins like http://127.0.0.1:8000")
        self.extra_origins: frozenset[Origin] = frozenset(o for o in extras if o is not None)

    def allows(self, url: httpx.URL) -> bool:
        """May this http(s) URL be fetched at all?"""
        origin = origin_of(url)
        if origin is None:
            return False
        return origin[0] == "https" or origin == self.api_origin or origin in self.extra_origins

    def may_authenticate(self, url: httpx.URL) -> bool:
        """May a request to this URL carry the API token? Only the API itself and Replicate's delivery hosts."""
        origin = origin_of(url)
        return origin is not None and (origin == self.api_origin or _is_delivery_host(origin))


def decode_data_url(url: str, max_bytes: int) -> tuple[bytes, str]:
    """The bytes and media type of a `data:` URL (base64 or percent-encoded), within `max_bytes`."""
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise DownloadError("malformed data: URL (no comma)")
    params = header.split(";")
    media_type = params[0].strip() or "application/octet-stream"
    if len(payload) > max_bytes * 4 // 3 + 4:  # cheap early stop before decoding a huge string
        raise DownloadError(f"output is larger than the {max_bytes}-byte limit")
    try:
        data = base64.b64decode(payload, validate=True) if "base64" in params[1:] else unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as exc:
        raise DownloadError("malformed data: URL (bad base64)") from exc
    if len(data) > max_bytes:
        raise DownloadError(f"output is larger than the {max_bytes}-byte limit")
    return data, media_type


def inspect_image(data: bytes) -> tuple[str, int, int]:
    """Format ('jpg', 'png', ...), width and height of image bytes that fully decode.

    Raises DownloadError for bytes that are not an image, are truncated or corrupt, or trip Pillow's
    decompression-bomb guard (its warning counts as a failure too).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = image.format or "", image.size
                if fmt == "PNG":
                    image.verify()  # walks every chunk and checks its CRC: catches truncation cheaply
                else:
                    if fmt == "JPEG":
                        image.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # full scan, 1/8 the IDCT
                    image.load()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise DownloadError(f"image refused by the decompression-bomb guard: {exc}") from None
        except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, struct.error, ...)
            raise DownloadError(f"output is not a readable image ({type(exc).__name__})") from None
    return normalize_format(fmt), width, height


async def fetch(
    http: httpx.AsyncClient,
    url: str,
    *,
    policy: DownloadPolicy,
    authorization: str | None,
    max_bytes: int,
    expected_format: str | None = None,
    slots: asyncio.Semaphore | None = None,
) -> Download:
    """Download `url` under `policy` and check what came back. See the module docstring for the rules.

    `slots` bounds the transfers only: the check after it runs outside, so a slow check never keeps
    other downloads waiting for a connection."""
    if url.startswith("data:"):
        data, content_type = decode_data_url(url, max_bytes)
    else:
        async with slots or contextlib.nullcontext():
            data, content_type = await _fetch_http(
                http, url, policy=policy, authorization=authorization, max_bytes=max_bytes
            )
    fmt, width, height = await asyncio.to_thread(inspect_image, data)
    if expected_format and normalize_format(expected_format) != fmt:
        raise DownloadError(f"expected a {normalize_format(expected_format)} image, got {fmt}")
    content_type = _CONTENT_TYPES.get(fmt) or content_type  # what the bytes are, whatever the label said
    return Download(data=data, content_type=content_type, format=fmt, width=width, height=height, url=url)


async def _fetch_http(
    http: httpx.AsyncClient,
    url: str,
    *,
    policy: DownloadPolicy,
    authorization: str | None,
    max_bytes: int,
) -> tuple[bytes, str]:
    try:
        current = httpx.URL(url)
    except httpx.InvalidURL:
        raise DownloadError("refusing to download a malformed URL") from None
    send_token = authorization is not None  # cleared for good once a hop leaves the token's hosts
    for _ in range(_MAX_REDIRECTS + 1):
        if not policy.allows(current):
            raise DownloadError(f"refusing to download from {_describe(current)}: not https or an allowed origin")
        send_token = send_token and policy.may_authenticate(current)
        headers = {"Authorization": authorization} if send_token and authorization else {}
        failure = ""
        try:
            async with http.stream("GET", current, headers=headers, follow_redirects=False) as response:
                if response.is_redirect:
                    current = _redirect_target(current, response.headers.get("location", ""))
                    continue
                if response.status_code != 200:
                    raise DownloadError(
                        f"download failed: HTTP {response.status_code} from {_describe(current)}",
                        status=response.status_code,
                        transient=response.status_code == 429 or response.status_code >= 500,
                    )
                return await _read_capped(response, max_bytes), response.headers.get("content-type", "")
        except httpx.TransportError as exc:
            failure = type(exc).__name__  # raised below, outside this block: exc holds the request headers
        raise DownloadError(f"download failed: {failure} from {_describe(current)}", transient=True)
    raise DownloadError(f"too many redirects (more than {_MAX_REDIRECTS})")


def _redirect_target(current: httpx.URL, location: str) -> httpx.URL:
    try:
        return current.join(location)
    except httpx.InvalidURL:
        pass
    raise DownloadError("redirect to a malformed URL")


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise DownloadError(f"output is larger than the {max_bytes}-byte limit")
    # One growing buffer, whose bytes getvalue() hands over without a copy: a list of chunks joined
    # at the end would hold a large image twice for a moment.
    buffer = io.BytesIO()
    async for chunk in response.aiter_bytes():
        if buffer.tell() + len(chunk) > max_bytes:  # stop: a lying or missing Content-Length must not fill memory
            raise DownloadError(f"output is larger than the {max_bytes}-byte limit")
        buffer.write(chunk)
    return buffer.getvalue()


def _describe(url: httpx.URL) -> str:
    """Scheme and host only: output URLs can carry signed query strings that do not belong in messages."""
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "") if url.host else f"{url.scheme}: URL"
