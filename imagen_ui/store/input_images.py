"""The images a generation was made from, kept beside the history (Replicate deletes its copies).

Stored once per content under ``root/inputs/<first two hex>/<sha256>.<ext>``, written atomically,
never changed. A history entry names them in its inputs as ``inputs/<…>/<sha256>.<ext>`` (so the
embedded parameters name them too); :meth:`InputImages.path` turns such a name back into the file.
Content-addressed names cannot be guessed: only someone who has the image can name it.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

__all__ = ["INPUTS_DIR", "InputImages"]

INPUTS_DIR = "inputs"
_NAME = re.compile(r"inputs/([0-9a-f]{2})/([0-9a-f]{64})\.(png|jpg|webp|gif)")
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "webp": "webp", "gif": "gif"}


class InputImages:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.dir = self.root / INPUTS_DIR
        self.dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def name_of(digest: str, fmt: str) -> str:
        """The name an image of SHA-256 `digest` and format `fmt` is (or would be) kept under."""
        ext = _EXTENSIONS.get(fmt.lower())
        if ext is None or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"not an input image's digest and format: {digest!r}, {fmt!r}")
        return f"{INPUTS_DIR}/{digest[:2]}/{digest}.{ext}"

    def put(self, data: bytes, fmt: str, digest: str | None = None) -> str:
        """Store `data` (an image of format `fmt`: png, jpeg, webp or gif; `digest` its SHA-256
        when known) and return its name. Storing what is kept already writes nothing."""
        name = self.name_of(digest or hashlib.sha256(data).hexdigest(), fmt)
        path = self.root / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(f".tmp-{secrets.token_hex(6)}-{path.name}")
            with open(temp, "xb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        return name

    def path(self, name: object) -> Path | None:
        """The file a stored name stands for, or None (not such a name, or the file is gone)."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            return None
        path = self.root / name
        return path if path.is_file() else None

    @staticmethod
    def is_name(value: object) -> bool:
        return isinstance(value, str) and _NAME.fullmatch(value) is not None

    @classmethod
    def names_in(cls, inputs: Mapping[str, object]) -> Iterator[tuple[str, list[str]]]:
        """(input name, stored image names) for each input that holds stored images."""
        for key, value in inputs.items():
            values = value if isinstance(value, list) else [value]
            names = [v for v in values if cls.is_name(v)]
            if names:
                yield key, names

    def remove(self, names: Iterable[str]) -> None:
        """Delete stored images (the caller knows no entry names them any more)."""
        for name in names:
            path = self.path(name)
            if path is not None:
                path.unlink(missing_ok=True)
