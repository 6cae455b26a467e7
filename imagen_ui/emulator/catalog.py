"""The models the emulator knows: every bundled ``imagen_ui/models/*.json`` file.

The bundled JSON is the full ``GET /v1/models/{owner}/{name}`` body, so it is served as is and is
also the single source of truth for a model's inputs (the app validates against the same file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .validation import InputSchema

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class ModelEntry:
    owner: str
    name: str
    raw: bytes  # the file's bytes: served unchanged
    data: dict[str, Any]
    schema: InputSchema

    @property
    def ref(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def latest_version(self) -> dict[str, Any]:
        return self.data.get("latest_version") or {}

    @property
    def version_id(self) -> str | None:
        return self.latest_version.get("id")


def _load(path: Path) -> ModelEntry | None:
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
        schema = InputSchema(data["latest_version"]["openapi_schema"])
        owner, name = data["owner"], data["name"]
    except (ValueError, KeyError, TypeError):
        return None  # not a model file: ignore it rather than refuse to start
    return ModelEntry(owner=owner, name=name, raw=raw, data=data, schema=schema)


class Catalog:
    """Bundled models by ``owner/name`` and by latest version id; a retired model is not found."""

    def __init__(self, directory: Path = MODELS_DIR, retired: tuple[str, ...] = ()) -> None:
        self._by_ref: dict[str, ModelEntry] = {}
        self._by_version: dict[str, ModelEntry] = {}
        self.retired: set[str] = set(retired)  # read on the loop, changed from a test thread: a set swap is atomic
        for path in sorted(directory.glob("*.json")):
            entry = _load(path)
            if entry is None:
                continue
            self._by_ref[entry.ref] = entry
            if entry.version_id:
                self._by_version[entry.version_id] = entry

    def get(self, owner: str, name: str) -> ModelEntry | None:
        ref = f"{owner}/{name}"
        return None if ref in self.retired else self._by_ref.get(ref)

    def by_version(self, version_id: str) -> ModelEntry | None:
        entry = self._by_version.get(version_id)
        return None if entry is None or entry.ref in self.retired else entry

    def retire(self, ref: str) -> None:
        self.retired = self.retired | {ref}
