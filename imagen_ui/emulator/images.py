"""Placeholder images: a gradient drawn from the request plus the prompt's text on it.

Deterministic (same spec -> same bytes: no timestamps, no randomness) and cheap: a small
gradient scaled up, a palette for colour, one text panel, a fast encoder setting. Sizes follow
the model's own rules (see ``sizes``); each file of a list output carries its number.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
import threading
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Mapping

from PIL import Image, ImageDraw, ImageFont

from .sizes import pixel_size

# output_format -> (Pillow format, Content-Type, file extension)
FORMATS: dict[str, tuple[str, str, str]] = {
    "jpg": ("JPEG", "image/jpeg", "jpg"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
    "png": ("PNG", "image/png", "png"),
    "webp": ("WEBP", "image/webp", "webp"),
}

_MAX_LINES = 7
_DEFAULT_QUALITY = 90  # for models without an output_quality input


@dataclass(frozen=True)
class ImageSpec:
    """What one output file is drawn from: the model, its full input (defaults filled in), and its
    place in a list output (None for a model whose output is a single file)."""

    model: str
    inputs_json: str  # canonical JSON: hashable, and (with index) the cache key
    index: int | None = None

    @classmethod
    def from_inputs(cls, model: str, inputs: Mapping[str, Any]) -> "ImageSpec":
        return cls(model, json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False))

    @cached_property
    def inputs(self) -> dict[str, Any]:
        return json.loads(self.inputs_json)

    @property
    def format(self) -> tuple[str, str, str]:
        return FORMATS.get(str(self.inputs.get("output_format", "jpg")).lower(), FORMATS["jpg"])

    @property
    def file_name(self) -> str:
        ext = self.format[2]
        return f"output.{ext}" if self.index is None else f"output_{self.index}.{ext}"

    @property
    def size(self) -> tuple[int, int]:
        return pixel_size(self.model, self.inputs)

    @property
    def quality(self) -> int:
        """JPEG/WebP quality: the request's output_quality (0..100) when the model takes one."""
        return min(100, max(0, _integer(self.inputs.get("output_quality"), _DEFAULT_QUALITY)))

    @property
    def count(self) -> int:
        """How many files the prediction makes: num_outputs for a list output, else one."""
        return 1 if self.index is None else max(1, _integer(self.inputs.get("num_outputs"), 1))


def output_specs(model: str, inputs: Mapping[str, Any], *, as_list: bool) -> tuple[ImageSpec, ...]:
    """One spec per output file: a list output has `num_outputs` of them, a single output one."""
    spec = ImageSpec.from_inputs(model, inputs)
    if not as_list:
        return (spec,)
    return tuple(replace(spec, index=i) for i in range(replace(spec, index=0).count))


def _integer(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class RenderedImage:
    data: bytes
    content_type: str


_fonts = threading.local()  # FreeType faces are not safe to share between render threads

# The picture is drawn in palette ("P") mode: one byte a pixel, and PNG needs no per-row filter
# search, which makes encoding about 4x faster than RGB. Palette layout:
_RAMP = 128  # 0..127 the background's colour ramp
_DARK = 128  # 128..253 the same ramp darkened, behind text
_BLACK, _WHITE = 254, 255
_TO_RAMP = [v * _RAMP // 256 for v in range(256)]
_TO_DARK = [min(v + _DARK, _BLACK - 1) for v in range(256)]


def digest_of(spec: ImageSpec) -> bytes:
    """The bytes a picture's colours and layout are drawn from: every input counts."""
    return hashlib.sha256(f"{spec.model}\n{spec.inputs_json}\n{spec.index}".encode()).digest()


def _font(size: int) -> Any:
    cache: dict[int, Any] = _fonts.__dict__.setdefault("by_size", {})
    if size not in cache:
        cache[size] = ImageFont.load_default(size=size)
    return cache[size]


def _colour(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return int(r * 255), int(g * 255), int(b * 255)


def _palette(digest: bytes) -> list[int]:
    hue = digest[1] / 255
    stops = [_colour(hue, 0.75, 0.35), _colour(hue + 0.2, 0.6, 0.8), _colour(hue + 0.5, 0.35, 0.98)]
    ramp = []
    for i in range(_RAMP):
        t = 2 * i / (_RAMP - 1)
        a, b = (stops[0], stops[1]) if t < 1 else (stops[1], stops[2])
        u = t if t < 1 else t - 1
        ramp.append(tuple(round(a[k] + (b[k] - a[k]) * u) for k in range(3)))
    dark = [tuple(c * 2 // 7 for c in rgb) for rgb in ramp][: _BLACK - _DARK]
    return [c for rgb in [*ramp, *dark, (0, 0, 0), (255, 255, 255)] for c in rgb]


def _background(size: tuple[int, int], digest: bytes) -> Image.Image:
    """Ramp indices (mode L): a linear gradient turned one of four ways, blended with a radial one."""
    turn = [Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
            Image.Transpose.ROTATE_270, Image.Transpose.TRANSPOSE][digest[0] % 4]
    shade = Image.blend(Image.linear_gradient("L").transpose(turn), Image.radial_gradient("L"), 0.35)
    # NEAREST from 256x256: steps of one ramp level, invisible, and far cheaper than BILINEAR.
    return shade.point(_TO_RAMP).resize(size, Image.Resampling.NEAREST)


def _darken(image: Image.Image, box: tuple[int, int, int, int]) -> None:
    image.paste(image.crop(box).point(_TO_DARK), box[:2])


def _wrap(text: str, font: Any, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if font.getlength(candidate) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    if len(lines) >= _MAX_LINES:
        lines, line = lines[:_MAX_LINES - 1], lines[_MAX_LINES - 1] + " …"
    if line:
        lines.append(line)
    return lines or ["(empty prompt)"]


font, wrap = _font, _wrap  # shared with the photo-sized pictures (photo.py)


def render(spec: ImageSpec) -> RenderedImage:
    """Draw and encode one image. Pure and thread-safe: called from a thread pool."""
    inputs = spec.inputs
    width, height = spec.size
    digest = hashlib.sha256(f"{spec.model}\n{spec.inputs_json}\n{spec.index}".encode()).digest()
    image = _background((width, height), digest)

    margin = width // 16
    big, small = _font(max(12, width // 18)), _font(max(10, width // 48))
    lines = _wrap(str(inputs.get("prompt", "")), big, width - 4 * margin)
    line_height = int(big.size * 1.25)
    top = max(margin, (height - line_height * len(lines)) // 2 - margin)
    _darken(image, (margin, top - margin // 2, width - margin, top + line_height * len(lines) + margin // 2))
    _darken(image, (0, height - 2 * small.size, width, height))
    image.putpalette(_palette(digest))  # L -> P: the indices drawn so far get their colours
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((2 * margin, top + i * line_height), line, font=big, fill=_WHITE)
    fmt, content_type, ext = spec.format
    caption = f"offline placeholder | {spec.model} | {width}x{height} | {ext}"
    if spec.index is not None:  # files of one list output must differ visibly, not just by name
        number = f"{spec.index + 1}/{spec.count}"
        draw.text((margin, margin // 2), number, font=big, fill=_WHITE)
        caption += f" | image {number}"
    draw.text((margin, height - int(1.6 * small.size)), caption, font=small, fill=_WHITE)

    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, fmt, compress_level=1)  # speed over size: these are placeholders
    elif fmt == "WEBP":
        image.convert("RGB").save(out, fmt, quality=spec.quality, method=0)  # method 0: ~5x faster
    else:
        image.convert("RGB").save(out, fmt, quality=spec.quality)
    return RenderedImage(out.getvalue(), content_type)
