"""Typed view of a Files API object (`POST /v1/files` and `GET /v1/files/{id}` answers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["UploadedFile"]


@dataclass(frozen=True)
class UploadedFile:
    """A file uploaded to Replicate. `url` (the answer's `urls.get`) is what a model input takes;
    Replicate fetches it with the account's access, until `expires_at`."""

    id: str
    url: str
    name: str
    content_type: str
    size: int
    sha256: str | None
    created_at: str | None
    expires_at: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> UploadedFile:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ValueError("not a file: no string 'id'")
        urls = data.get("urls") if isinstance(data.get("urls"), dict) else {}
        if not isinstance(urls.get("get"), str):
            raise ValueError("not a file: no urls.get")
        checksums = data.get("checksums") if isinstance(data.get("checksums"), dict) else {}
        size = data.get("size")
        return cls(
            id=data["id"],
            url=urls["get"],
            name=str(data.get("name") or ""),
            content_type=str(data.get("content_type") or "application/octet-stream"),
            size=size if isinstance(size, int) and not isinstance(size, bool) else -1,
            sha256=checksums.get("sha256") if isinstance(checksums.get("sha256"), str) else None,
            created_at=data.get("created_at"),
            expires_at=data.get("expires_at"),
            raw=data,
        )
