"""Download all: one zip of a click's original files, named after the click.

The zip stores the files as they are (no recompression: they are the model's exact bytes, already
compressed), under names that say what each is. Each zip sits in a directory of its own with a
random name, so one visitor cannot guess another's; zips older than an hour are removed when the
next one is made.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
import zipfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from imagen_ui.store.history import name_stem

__all__ = ["ARCHIVE_DIR", "write_zip"]

ARCHIVE_DIR = Path(tempfile.gettempdir()) / "imagen-ui-downloads"
KEEP_SECONDS = 3600


def write_zip(paths: Sequence[Path], *, model: str, prompt: str, when: datetime | None = None,
              directory: Path = ARCHIVE_DIR) -> Path:
    """A zip of `paths` named like ``imagen-4-fast_20261201-083012_a-red-fox.zip``."""
    created = (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S")
    _remove_old(directory)
    folder = directory / secrets.token_urlsafe(12)
    folder.mkdir(parents=True)
    target = folder / f"{name_stem(model, created, prompt)}.zip"
    temp = folder / ".partial.zip"
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in paths:
            archive.write(path, arcname=Path(path).name)
    os.replace(temp, target)  # a half-written zip is never offered
    return target


def _remove_old(directory: Path) -> None:
    if not directory.is_dir():
        return
    cutoff = time.time() - KEEP_SECONDS
    for folder in directory.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue  # gone meanwhile
