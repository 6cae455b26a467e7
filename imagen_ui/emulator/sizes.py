"""Output pixel sizes, worked out from a request's inputs the way each bundled model family does.

Imagen 4: Google's table at 1K; ``image_size: "2K"`` doubles each side. FLUX: cog-flux's table at
1 megapixel; ``megapixels: "0.25"`` halves each side (integer halving, as cog-flux does). An
aspect ratio missing from a table (``"2:1"``…) gets the family's area at that ratio, each side
rounded to the family's multiple, so any ``W:H`` has a size. Gemini image models (nano-banana-pro,
nano-banana-2): Google's Gemini 3 Pro Image table at 1K; ``resolution`` 2K and 4K double and
quadruple each side (so 4K 16:9 is 5504x3072; one third-party table says 5632x3072).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

MEGAPIXEL = 1024 * 1024  # what both families call "1 MP": their 1:1 size is 1024x1024
_MAX_SIDE = 8192  # a sanity cap: a schema's enum never asks for more, a hand-made one might


@dataclass(frozen=True)
class _Family:
    table: dict[str, tuple[int, int]]  # aspect ratio -> size at the family's base resolution
    multiple: int  # computed sides are rounded to this


IMAGEN = _Family(
    {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408), "16:9": (1408, 768)},
    multiple=64,
)
FLUX = _Family(
    {
        "1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "3:2": (1216, 832), "2:3": (832, 1216),
        "4:5": (896, 1088), "5:4": (1088, 896), "3:4": (896, 1152), "4:3": (1152, 896), "9:16": (768, 1344),
        "9:21": (640, 1536),
    },
    multiple=16,
)
GEMINI = _Family(
    {
        "1:1": (1024, 1024), "2:3": (848, 1264), "3:2": (1264, 848), "3:4": (896, 1200), "4:3": (1200, 896),
        "4:5": (928, 1152), "5:4": (1152, 928), "9:16": (768, 1376), "16:9": (1376, 768), "21:9": (1584, 672),
    },
    multiple=16,
)
_GEMINI_SCALE = {"1K": 1, "2K": 2, "4K": 4}


def pixel_size(model: str, inputs: Mapping[str, Any]) -> tuple[int, int]:
    """(width, height) of the image `model` makes for `inputs` (defaults already filled in)."""
    aspect_ratio = str(inputs.get("aspect_ratio", "1:1"))
    if model.startswith("black-forest-labs/"):
        megapixels = _number(inputs.get("megapixels", "1"), default=1.0)
        if megapixels in (1.0, 0.25) and aspect_ratio in FLUX.table:
            width, height = FLUX.table[aspect_ratio]
            return (width, height) if megapixels == 1.0 else (width // 2, height // 2)
        return _fit(aspect_ratio, megapixels * MEGAPIXEL, FLUX.multiple)
    if model.startswith(("google/nano-banana-pro", "google/nano-banana-2")):
        # Without input images "match_input_image" has nothing to match: the model answers 1:1.
        width, height = GEMINI.table.get(aspect_ratio) or GEMINI.table["1:1"]
        scale = _GEMINI_SCALE.get(str(inputs.get("resolution", "1K")).upper(), 1)
        return width * scale, height * scale
    width, height = IMAGEN.table.get(aspect_ratio) or _fit(aspect_ratio, MEGAPIXEL, IMAGEN.multiple)
    scale = 2 if str(inputs.get("image_size", "1K")).upper() == "2K" else 1
    return width * scale, height * scale


def _fit(aspect_ratio: str, area: float, multiple: int) -> tuple[int, int]:
    """About `area` pixels at `aspect_ratio` ("W:H"; 1:1 when unreadable), sides multiples of `multiple`."""
    ratio = _ratio(aspect_ratio)
    width, height = math.sqrt(area * ratio), math.sqrt(area / ratio)
    return _round(width, multiple), _round(height, multiple)


def _ratio(aspect_ratio: str) -> float:
    w, _, h = aspect_ratio.partition(":")
    width, height = _number(w, 0.0), _number(h, 0.0)
    return width / height if width and height else 1.0


def _round(side: float, multiple: int) -> int:
    return min(_MAX_SIDE, max(multiple, round(side / multiple) * multiple))


def _number(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) and number > 0 else default
