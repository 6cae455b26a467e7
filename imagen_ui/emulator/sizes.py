"""Output pixel sizes, worked out from a request's inputs the way each bundled model family does.

Imagen 4: Google's table at 1K; ``image_size: "2K"`` doubles each side. FLUX: cog-flux's table at
1 megapixel; ``megapixels: "0.25"`` halves each side (integer halving, as cog-flux does). An
aspect ratio missing from a table (``"2:1"``…) gets the family's area at that ratio, each side
rounded to the family's multiple, so any ``W:H`` has a size.

The 2026 models: Gemini image models (nano-banana-pro, nano-banana-2) use Google's Gemini 3 Pro
Image table at 1K; ``resolution`` 2K and 4K double and quadruple each side (so 4K 16:9 is
5504x3072; one third-party table says 5632x3072). Seedream 4.5: ByteDance's table at 2K, doubled at
4K, or ``width``/``height`` when ``size`` is custom; FLUX.2 and Kontext an area in megapixels at
the ratio. ``match_input_image`` takes the ratio (and for FLUX.2's resolution, the area) of the
first input image; with no input image there is nothing to match and the models answer 1:1.
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
SEEDREAM = _Family(
    {"1:1": (2048, 2048), "4:3": (2304, 1728), "3:4": (1728, 2304), "16:9": (2560, 1440), "9:16": (1440, 2560),
     "3:2": (2496, 1664), "2:3": (1664, 2496), "21:9": (3024, 1296)},
    multiple=16,
)
_FLUX2_MEGAPIXELS = {"0.5 MP": 0.5, "1 MP": 1.0, "2 MP": 2.0, "4 MP": 4.0}
_FLUX2_MAX_SIDE = 2048


def pixel_size(model: str, inputs: Mapping[str, Any], input_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """(width, height) of the image `model` makes for `inputs` (defaults already filled in);
    `input_size` is the first input image's, when the request has one."""
    aspect_ratio = str(inputs.get("aspect_ratio", "1:1"))
    matched = aspect_ratio == "match_input_image"
    if matched:
        aspect_ratio = f"{input_size[0]}:{input_size[1]}" if input_size else "1:1"
    if matched and model.startswith(("google/nano-banana", "bytedance/seedream")):
        table = GEMINI.table if model.startswith("google/") else SEEDREAM.table
        aspect_ratio = _nearest(table, aspect_ratio)  # these models snap to a ratio they support
    if model.startswith("google/nano-banana"):
        width, height = GEMINI.table.get(aspect_ratio) or _fit(aspect_ratio, MEGAPIXEL, GEMINI.multiple)
        scale = _GEMINI_SCALE.get(str(inputs.get("resolution", "1K")).upper(), 1)
        return width * scale, height * scale
    if model.startswith("bytedance/seedream"):
        size = str(inputs.get("size", "2K"))
        if size == "custom":
            return _clamp(inputs.get("width"), 2048), _clamp(inputs.get("height"), 2048)
        width, height = SEEDREAM.table.get(aspect_ratio) or _fit(aspect_ratio, 4 * MEGAPIXEL, SEEDREAM.multiple)
        scale = 2 if size == "4K" else 1
        return width * scale, height * scale
    if model == "black-forest-labs/flux-2-pro":
        if aspect_ratio == "custom":
            return _round(_number(inputs.get("width"), 1024), 32), _round(_number(inputs.get("height"), 1024), 32)
        resolution = str(inputs.get("resolution", "1 MP"))
        area = _FLUX2_MEGAPIXELS.get(resolution, 1.0) * MEGAPIXEL
        if resolution == "match_input_image" and input_size:
            area = min(4 * MEGAPIXEL, input_size[0] * input_size[1])
        width, height = _fit(aspect_ratio, area, 16)
        shrink = min(1.0, _FLUX2_MAX_SIDE / max(width, height))
        return _round(width * shrink, 16), _round(height * shrink, 16)
    if model == "black-forest-labs/flux-kontext-pro":
        return _fit(aspect_ratio, MEGAPIXEL, 16)
    if model.startswith("black-forest-labs/"):
        megapixels = _number(inputs.get("megapixels", "1"), default=1.0)
        if megapixels in (1.0, 0.25) and aspect_ratio in FLUX.table:
            width, height = FLUX.table[aspect_ratio]
            return (width, height) if megapixels == 1.0 else (width // 2, height // 2)
        return _fit(aspect_ratio, megapixels * MEGAPIXEL, FLUX.multiple)
    width, height = IMAGEN.table.get(aspect_ratio) or _fit(aspect_ratio, MEGAPIXEL, IMAGEN.multiple)
    scale = 2 if str(inputs.get("image_size", "1K")).upper() == "2K" else 1
    return width * scale, height * scale


def _fit(aspect_ratio: str, area: float, multiple: int) -> tuple[int, int]:
    """About `area` pixels at `aspect_ratio` ("W:H"; 1:1 when unreadable), sides multiples of `multiple`."""
    ratio = _ratio(aspect_ratio)
    width, height = math.sqrt(area * ratio), math.sqrt(area / ratio)
    return _round(width, multiple), _round(height, multiple)


def _nearest(table: dict[str, tuple[int, int]], aspect_ratio: str) -> str:
    ratio = math.log(_ratio(aspect_ratio))
    return min(table, key=lambda name: abs(math.log(_ratio(name)) - ratio))


def _clamp(value: Any, default: int) -> int:
    return min(_MAX_SIDE, max(1, int(_number(value, default))))


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
