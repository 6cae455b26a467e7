"""Replicate's Files API: ``POST /v1/files`` (multipart), list, get, delete, and the file's bytes.

Shapes as recorded against api.replicate.com (replicate-python's ``file-operations`` cassette): the
id is the base64 of a UUID, ``etag`` the MD5, ``checksums`` SHA-256 and MD5, ``expires_at`` 24 h after
creation, ``urls.get`` the file's API URL, a delete answers 204 with no body. A file of 100 MB or
more is refused with 413. A model's input may name a file by its ``urls.get``: ``resolve`` finds it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .problems import bad_request, json_response, not_found, problem
from .protocol import decode_cursor, encode_cursor
from .store import iso

MAX_FILE_BYTES = 100 * 1024 * 1024  # "Files must be less than 100MB in size"
MAX_NAME_BYTES = 255
PAGE_SIZE = 100
DEFAULT_LIFETIME = 24 * 3600.0  # the 2024 recording: expires_at is created_at + 24 h


def too_large() -> Response:
    return problem(413, "Request Entity Too Large", "Files must be less than 100MB in size")


@dataclass(eq=False)
class StoredFile:
    id: str
    seq: int
    name: str
    content_type: str
    data: bytes = field(repr=False)
    metadata: dict[str, Any]
    created_at: float
    expires_at: float

    def to_api(self, base_url: str) -> dict[str, Any]:
        md5 = hashlib.md5(self.data).hexdigest()
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "size": len(self.data),
            "etag": md5,
            "checksums": {"sha256": hashlib.sha256(self.data).hexdigest(), "md5": md5},
            "metadata": self.metadata,
            "created_at": _iso_ms(self.created_at),
            "expires_at": _iso_ms(self.expires_at),
            "urls": {"get": f"{base_url}/v1/files/{self.id}"},
        }


class FileStore:
    """Uploaded files in memory until they expire or are deleted. Thread-safe (tests read it)."""

    def __init__(self, lifetime: float = DEFAULT_LIFETIME) -> None:
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}
        self._seq = 0

    def add(self, data: bytes, name: str, content_type: str, metadata: dict[str, Any]) -> StoredFile:
        now = time.time()
        file_id = base64.b64encode(str(uuid.uuid4()).encode()).decode()
        with self._lock:
            stored = StoredFile(file_id, self._seq, name, content_type, data, metadata, now, now + self.lifetime)
            self._seq += 1
            self._files[file_id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            stored = self._files.get(file_id)
            if stored is not None and stored.expires_at <= time.time():
                del self._files[file_id]
                return None
            return stored

    def delete(self, file_id: str) -> bool:
        with self._lock:
            return self._files.pop(file_id, None) is not None

    def snapshot(self) -> list[StoredFile]:
        """Every live file, newest first."""
        now = time.time()
        with self._lock:
            return sorted((f for f in self._files.values() if f.expires_at > now), key=lambda f: -f.seq)

    def resolve(self, url: str, base_url: str) -> StoredFile | None:
        """The file an input URL names: ``{base}/v1/files/{id}`` (or its ``/download``)."""
        prefix = f"{base_url}/v1/files/"
        if not url.startswith(prefix):
            return None
        file_id = url[len(prefix):].split("?", 1)[0].removesuffix("/download")
        return self.get(file_id) if file_id and "/" not in file_id else None


class FilesApi:
    """The routes. ``base_url`` is read at each request: it is known once the socket is bound."""

    def __init__(self, files: FileStore, state: Any) -> None:
        self.files = files
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/v1/files", self.create, methods=["POST"]),
            Route("/v1/files", self.list, methods=["GET"]),
            Route("/v1/files/{id}", self.get, methods=["GET"]),
            Route("/v1/files/{id}", self.delete, methods=["DELETE"]),
            Route("/v1/files/{id}/download", self.download, methods=["GET"]),
        ]

    async def create(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            return bad_request("The request must be multipart/form-data with a 'content' part")
        try:
            parts = parse_multipart(await request.body(), content_type)
        except ValueError as exc:
            return bad_request(f"The multipart body could not be read: {exc}")
        content = parts.get("content")
        if content is None or content.filename is None:
            return problem(422, "Input validation failed", "- content: content is required",
                           invalid_fields=[{"type": "required", "field": "content", "description": "content is required"}])
        if len(content.data) >= MAX_FILE_BYTES:
            return too_large()
        name = _field(parts, "filename") or content.filename or "file"
        if len(name.encode()) > MAX_NAME_BYTES:
            return bad_request("filename must be at most 255 bytes")
        kind = _field(parts, "type") or content.content_type or "application/octet-stream"
        metadata = _metadata(_field(parts, "metadata"))
        if metadata is None:
            return bad_request("metadata must be a JSON object")
        stored = self.files.add(content.data, name, kind, metadata)
        return json_response(stored.to_api(self.state.base_url), 201)

    async def list(self, request: Request) -> Response:
        raw = request.query_params.get("cursor")
        cursor = decode_cursor(raw) if raw else None
        if raw and (cursor is None or cursor[0] != "older"):
            return bad_request("Invalid cursor")
        files = self.files.snapshot()
        start = cursor[1] if cursor else 0
        chunk = files[start:start + PAGE_SIZE]
        base = self.state.base_url
        more = start + PAGE_SIZE < len(files)
        return json_response({
            "next": f"{base}/v1/files?cursor={encode_cursor('older', start + PAGE_SIZE)}" if more else None,
            "previous": None,
            "results": [f.to_api(base) for f in chunk],
        })

    async def get(self, request: Request) -> Response:
        stored = self.files.get(request.path_params["id"])
        return not_found() if stored is None else json_response(stored.to_api(self.state.base_url))

    async def delete(self, request: Request) -> Response:
        if not self.files.delete(request.path_params["id"]):
            return not_found()
        return Response(status_code=204, media_type="text/plain")

    async def download(self, request: Request) -> Response:
        stored = self.files.get(request.path_params["id"])
        if stored is None:
            return not_found()
        return Response(stored.data, media_type=stored.content_type,
                        headers={"content-disposition": f'attachment; filename="{_ascii(stored.name)}"'})


@dataclass(frozen=True)
class Part:
    data: bytes = field(repr=False)
    filename: str | None  # None: a plain field, not a file
    content_type: str | None


def parse_multipart(body: bytes, content_type: str, max_parts: int = 16) -> dict[str, Part]:
    """The parts of a multipart/form-data body already in memory, by name (python-multipart's
    push parser: Starlette's form() spools every file to a temporary file first, ~50 ms for 2 MB)."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ValueError("no boundary")
    parts: dict[str, Part] = {}
    headers: dict[bytes, bytes] = {}
    field_name, value = bytearray(), bytearray()
    chunks: list[bytes] = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        field_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(field_name).lower()] = bytes(value)
        field_name.clear()
        value.clear()

    def on_part_begin() -> None:
        headers.clear()
        chunks.clear()
        if len(parts) >= max_parts:
            raise ValueError("too many parts")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunks.append(data[start:end])

    def on_part_end() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        kind = headers.get(b"content-type")
        parts.setdefault(name, Part(b"".join(chunks), None if filename is None else filename.decode("utf-8", "replace"),
                                    None if kind is None else kind.decode("latin-1").strip()))

    parser = MultipartParser(boundary, {
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise ValueError(str(exc)) from None
    return parts


def _field(parts: dict[str, Part], name: str) -> str:
    part = parts.get(name)
    return part.data.decode("utf-8", "replace").strip() if part is not None and part.filename is None else ""


def _iso_ms(ts: float) -> str:
    """2024-08-22T12:26:51.079Z: milliseconds, as the recorded file objects have them."""
    return (iso(ts) or "")[:23] + "Z"


def _metadata(value: Any) -> dict[str, Any] | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _ascii(name: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
