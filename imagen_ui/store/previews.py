"""Small WebP previews of stored images, for the page to show instead of the originals.

Each stored image gets two: ``gallery`` (long side 1024 px: the Generate and Compare galleries and
the full-size views) and ``tile`` (long side 384 px: History's grid). They are made once, from the
image's bytes already in memory, when the image is stored (in the caller's worker thread, never on
the event loop); rebuilt from the original when missing; deleted with it. They are derived data:
no parameters inside (the original keeps them: the metadata contract knows nothing of previews),
no fsync, and they live in their own tree beside the images, mirroring its folders::

    root/previews/<folder under images/>/<image file name>.<long side>.webp

An image that is already about a preview's size and lossy (a 1024x1024 JPEG) gets no gallery
preview: one would save little (a re-encode of the same pixels) for the CPU it costs; the page shows
the original there. A decode of a large PNG holds its pixels (a 4K one about 50 MB) while the
preview is made, so at most `MAX_CONCURRENT` previews are made at once (they are CPU-bound anyway).
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import threading
import warnings
from pathlib import Path

from PIL import Image

__all__ = ["GALLERY", "KINDS", "TILE", "PREVIEWS_DIR", "make_previews", "preview_path", "wanted"]

log = logging.getLogger(__name__)

PREVIEWS_DIR = "previews"
GALLERY, TILE = "gallery", "tile"
KINDS = {GALLERY: 1024, TILE: 384}  # kind -> long side in pixels
QUALITY = 80
METHOD = 1  # libwebp's effort: 1 is 2-3x faster than the default 4, for files ~1% larger
WORTH_IT = 1.25  # a lossy original's long side must exceed a preview's by this much to get one
_LOSSLESS = ("PNG",)
MAX_CONCURRENT = 2
TEMP_PREFIX = ".tmp-"
SUFFIX = ".webp"

_slots = threading.BoundedSemaphore(MAX_CONCURRENT)


def preview_path(root: Path, rel_path: str, kind: str) -> Path:
    """Where the `kind` preview of the image at `rel_path` ("images/…", relative to `root`) lives."""
    inside = rel_path.split("/", 1)[1] if "/" in rel_path else rel_path
    return root / PREVIEWS_DIR / f"{inside}.{KINDS[kind]}{SUFFIX}"


def original_name(preview_name: str) -> str | None:
    """The image file name a preview file name was made for, or None if it is not a preview's."""
    for side in KINDS.values():
        ending = f".{side}{SUFFIX}"
        if preview_name.endswith(ending):
            return preview_name[: -len(ending)]
    return None


def wanted(kind: str, size: tuple[int, int], fmt: str | None) -> bool:
    """Whether an image of `size` and Pillow format `fmt` gets a `kind` preview (see above)."""
    return fmt in _LOSSLESS or max(size) > KINDS[kind] * WORTH_IT


def kinds_for(image: Path) -> list[str]:
    """The kinds of preview the image file gets (reads its header only); none if unreadable."""
    try:
        with Image.open(image) as opened:
            return [kind for kind in KINDS if wanted(kind, opened.size, opened.format)]
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return []


def make_previews(data: bytes | memoryview, targets: dict[str, Path]) -> None:
    """Decode `data` once and write each `targets` kind's preview that it gets (`wanted`; largest
    first, each smaller one scaled from the one before). Raises ValueError for bytes Pillow cannot
    read."""
    with _slots, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as original:
                targets = {kind: path for kind, path in targets.items()
                           if wanted(kind, original.size, original.format)}
                if not targets:
                    return
                longest = max(KINDS[kind] for kind in targets)
                original.draft("RGB", _fit(original.size, longest))  # JPEG: decoded at 1/2, 1/4 or 1/8
                picture = _flat(original)
                for kind in sorted(targets, key=KINDS.get, reverse=True):
                    picture.thumbnail((KINDS[kind], KINDS[kind]), Image.Resampling.LANCZOS, reducing_gap=3.0)
                    _write(picture, targets[kind])
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning,
                Image.DecompressionBombError) as exc:
            raise ValueError(f"cannot make a preview: {type(exc).__name__}: {exc}") from None


def _fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _flat(image: Image.Image) -> Image.Image:
    """The decoded picture as RGB, or RGBA when it has transparency (WebP keeps it)."""
    image.load()
    if image.mode in ("RGB", "RGBA"):
        return image
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _write(picture: Image.Image, target: Path) -> None:
    """Temp file + rename: a reader sees no preview or a whole one. No fsync: previews are rebuilt
    from the original when missing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f"{TEMP_PREFIX}{secrets.token_hex(6)}-{target.name}")
    try:
        picture.save(temp, "WEBP", quality=QUALITY, method=METHOD)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
