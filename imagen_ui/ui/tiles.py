"""A click's gallery: one tile per image from the click on, numbered, each with its own status.

Before an image is stored its tile is a placeholder (an SVG of the requested aspect ratio with the
image's number), captioned with what that image is doing; a failed image keeps its tile, captioned
with why, so tile 2 is always image 2. Stored images are shown as their files (served as static
files, nothing copied). Placeholders are tiny files written once per shape, number and kind.
"""

from __future__ import annotations

import re
import tempfile
import threading
from pathlib import Path

from imagen_ui.service import ImageSlot, Snapshot
from imagen_ui.ui import status_lines

__all__ = ["TILE_DIR", "Tiles", "shape_of"]

# Served as a static path next to the history's images (bootstrap adds it to allowed_paths).
TILE_DIR = Path(tempfile.gettempdir()) / "imagen-ui-tiles"
_LONG_SIDE = 240
_CAPTION_CHARS = 90
_lock = threading.Lock()
_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
    '<rect width="{w}" height="{h}" fill="{fill}" fill-opacity="0.16"/>'
    '<text x="50%" y="50%" text-anchor="middle" dominant-baseline="central" font-family="sans-serif" '
    'font-size="{size}" fill="{fill}" fill-opacity="0.7">{text}</text></svg>'
)


def shape_of(aspect_ratio: object) -> tuple[int, int]:
    """(width, height) of a tile for an aspect ratio such as "16:9"; square for anything else
    (match_input_image, custom, none)."""
    match = re.fullmatch(r"(\d{1,3}):(\d{1,3})", str(aspect_ratio or ""))
    if not match or not int(match[1]) or not int(match[2]):
        return _LONG_SIDE, _LONG_SIDE
    width, height = int(match[1]), int(match[2])
    scale = _LONG_SIDE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def placeholder(number: int, shape: tuple[int, int], *, failed: bool = False) -> Path:
    """The placeholder file for image `number` (1-based) of that shape, written once."""
    width, height = shape
    kind = "failed" if failed else "pending"
    path = TILE_DIR / f"tile-{number}-{kind}-{width}x{height}.svg"
    if not path.exists():
        text = f"{number} ✕" if failed else str(number)
        svg = _SVG.format(w=width, h=height, size=min(width, height) // 3, text=text,
                          fill="#dc2626" if failed else "#6b7280")
        with _lock:
            TILE_DIR.mkdir(parents=True, exist_ok=True)
            temp = path.with_suffix(f".{threading.get_ident()}.tmp")
            temp.write_text(svg, encoding="utf-8")
            temp.replace(path)  # atomic: a reader never sees half a file
    return path


class Tiles:
    """Gallery items for a click's snapshots. `label(slot)` names a tile (its number, or its
    model in Compare); `shape` is the placeholders' aspect."""

    def __init__(self, shape: tuple[int, int] = (_LONG_SIDE, _LONG_SIDE), label=None) -> None:
        self.shape = shape
        self.label = label or (lambda slot: str(slot.index + 1))

    def items(self, snapshot: Snapshot) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        for slot in snapshot.slots:
            caption = f"{self.label(slot)} · {_state(slot)}"
            if slot.paths:
                items += [(str(path), caption) for path in slot.paths]
            else:
                items.append((str(placeholder(slot.index + 1, self.shape, failed=slot.status == "failed")),
                              caption))
        return items


def _state(slot: ImageSlot) -> str:
    if slot.status == "succeeded":
        took = status_lines.elapsed(slot)
        text = f"done in {took}" if took else "done"
        return f"{text} · seed {slot.seed}" if slot.seed is not None else text
    if slot.status == "failed":
        why = slot.message or "unknown error"
        return "failed: " + (why if len(why) <= _CAPTION_CHARS else why[:_CAPTION_CHARS - 1] + "…")
    if slot.status == "processing":
        return "running"
    return {"sent": "sent", "canceled": "cancelled"}.get(slot.status, slot.status)
