"""A prediction's link inputs fetched before the model runs, as Cog downloads every ``Path`` input.

A link may name a file uploaded through the Files API (``{base}/v1/files/{id}``), one of the
emulator's own output files, a ``data:`` URI, or any other http(s) URL (fetched for real). Each is
decoded as an image and kept as a thumbnail for the output. When one cannot be fetched or is not
an image, the prediction fails at once, with the error text Cog's downloader and Pillow give.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
from dataclasses import replace
from typing import Any, Awaitable, Callable
from urllib.parse import unquote_to_bytes, urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

from .files import MAX_FILE_BYTES, FileStore
from .images import ImageSpec
from .thumbnails import Thumbnail
from .validation import InputSchema

OwnOutput = Callable[[str], Awaitable[bytes | None]]  # an output URL of ours -> its bytes (None: gone)
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 410: "Gone"}


class InputError(Exception):
    """A link input could not be used; the message is the prediction's error."""


def links(schema: InputSchema, inputs: dict[str, Any]) -> list[str]:
    """The link values of `inputs` in the schema's order: string inputs of format uri, and the items
    of arrays of them."""
    found = []
    for name, prop in schema.properties.items():
        value = inputs.get(name)
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
        if prop.get("format") == "uri" and isinstance(value, str) and value:
            found.append(value)
        elif prop.get("type") == "array" and items.get("format") == "uri" and isinstance(value, list):
            found.extend(item for item in value if isinstance(item, str) and item)
    return found


class InputFetcher:
    def __init__(self, files: FileStore, own_output: OwnOutput, base_url: Callable[[], str]) -> None:
        self.files = files
        self.own_output = own_output
        self.base_url = base_url
        self._http: httpx.AsyncClient | None = None

    async def with_inputs(self, specs: tuple[ImageSpec, ...], urls: list[str]) -> tuple[ImageSpec, ...]:
        """`specs` carrying the thumbnails of every input image (and the first one's size)."""
        blobs = await asyncio.gather(*(self.fetch(url) for url in urls))
        decoded = await asyncio.to_thread(lambda: [_decode(blob) for blob in blobs])
        pictures = tuple(thumbnail for thumbnail, _ in decoded)
        first = decoded[0][1] if decoded else None
        return tuple(replace(spec, references=pictures, input_size=first) for spec in specs)

    async def fetch(self, url: str) -> bytes:
        if url.startswith("data:"):
            return _data_uri(url)
        base = self.base_url()
        if url.startswith(f"{base}/v1/files/"):
            stored = self.files.resolve(url, base)
            if stored is None:
                raise InputError(_http_error(404, url))
            return stored.data
        if url.startswith(f"{base}/files/"):
            data = await self.own_output(url)
            if data is None:
                raise InputError(_http_error(404, url))
            return data
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"Invalid URL '{url[:200]}': No scheme supplied. Perhaps you meant https://{url[:200]}?")
        return await self._download(url)

    async def _download(self, url: str) -> bytes:
        if self._http is None:
            # trust_env=False: never through a proxy from the environment (tests are loopback only).
            self._http = httpx.AsyncClient(timeout=10.0, trust_env=False, follow_redirects=True)
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise InputError(_http_error(response.status_code, url))
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size >= MAX_FILE_BYTES:
                        raise InputError(f"Input file at {url} is too large (100MB or more)")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            host = urlsplit(url).hostname
            raise InputError(f"Failed to download {url}: could not connect to {host} ({type(exc).__name__})") from None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def _http_error(status: int, url: str) -> str:
    """requests' raise_for_status() wording, which Cog's downloader passes on."""
    kind = "Client" if status < 500 else "Server"
    return f"{status} {kind} Error: {_REASONS.get(status, 'Error')} for url: {url}"


def _data_uri(url: str) -> bytes:
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise InputError("Invalid data URI: no ',' after the media type")
    try:
        if header.lower().endswith(";base64"):
            return base64.b64decode(payload, validate=True)
        return unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise InputError("Invalid data URI: the payload is not valid base64") from None


def _decode(blob: bytes) -> tuple[Thumbnail, tuple[int, int]]:
    """A thumbnail of the image and its full size; InputError as Pillow words it when it is none."""
    try:
        with Image.open(io.BytesIO(blob)) as image:
            size = image.size
            image.draft("RGB", (512, 512))  # JPEG: decode at a fraction of the size, far faster
            image.load()
            return Thumbnail.of(image), size
    except UnidentifiedImageError:
        raise InputError("cannot identify image file <_io.BytesIO object>") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"image file could not be read: {exc}") from None
