"""Photo-sized output files: a picture drawn from the request, with grain, encoded like a model's.

A model's PNG of a photo is large because a photo's fine detail barely compresses; a flat gradient
(``images.render``, the small placeholders) compresses a hundredfold. So the picture here is a smooth
field of colour drawn from the request, the prompt's text panel on it, and grain: texture at several
scales (so a downscaled copy, a preview, stays as detailed as a photo's would, and weighs as much)
over per-pixel noise whose strength is tuned per format and pixel count (``GRAIN``) so that the
encoded sizes land on the reference figures in ``TARGET_BYTES_PER_PIXEL``.

Deterministic: the same spec gives the same bytes (no clock, no global randomness; the grain has
fixed seeds). Fast: the grain is made once per pixel size and kept (bounded), the picture is then a
few numpy passes, and PNGs are written with one fixed filter (Sub) and Huffman-only deflate instead
of Pillow's per-row filter search, about 3x faster for the same size class.

``compose`` makes the picture (where another drawing step, e.g. input thumbnails, belongs);
``encode`` turns it into the output file's bytes.
"""

from __future__ import annotations

import io
import struct
import threading
import zlib
from collections import OrderedDict
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .images import ImageSpec, RenderedImage, digest_of, font, wrap

# Reference sizes of real outputs, in encoded bytes per pixel, by format; PNG shrinks per pixel
# at 4K (upscaled detail compresses better). Each is (megapixels, bytes per pixel) points, linear
# in between and flat outside.
TARGET_BYTES_PER_PIXEL: dict[str, tuple[tuple[float, float], ...]] = {
    "PNG": ((1.0, 2.3), (4.5, 2.3), (16.0, 1.3)),
    "JPEG": ((1.0, 0.45), (4.5, 0.45), (16.0, 0.26)),
    "WEBP": ((1.0, 0.19), (4.5, 0.19), (16.0, 0.11)),
}
# Grain amplitude (+-) giving those sizes at the default quality (JPEG 90, WebP 80), calibrated
# with `benchmarks/emulator_throughput.py --sizes` (which prints both); same (megapixels, value) shape.
GRAIN: dict[str, tuple[tuple[float, float], ...]] = {
    "PNG": ((1.0, 22.0), (4.5, 22.0), (16.0, 2.0)),
    "JPEG": ((1.0, 27.0), (4.5, 30.0), (16.0, 15.0)),
    "WEBP": ((1.0, 4.0), (4.5, 4.0), (16.0, 2.0)),
}
_IDAT_CHUNK = 1 << 16  # what libpng and Pillow write per IDAT chunk, about
_PANEL_SHADE = 3  # the text panel is the picture divided by this


def render(spec: ImageSpec) -> RenderedImage:
    """Draw and encode one photo-sized image. Pure and thread-safe: called from a thread pool."""
    fmt, content_type, _ = spec.format
    return RenderedImage(encode(compose(spec), fmt, spec.quality), content_type)


def compose(spec: ImageSpec) -> Image.Image:
    """The picture of one output file (RGB), at the model's pixel size."""
    width, height = spec.size
    digest = digest_of(spec)
    fmt = spec.format[0]
    amplitude = int(round(_along(GRAIN[fmt], width * height / 1e6)))
    pixels = _field(width, height, digest, amplitude)
    pixels += _grain(width, height, amplitude)

    margin = width // 16
    big, small = font(max(12, width // 18)), font(max(10, width // 48))
    lines = wrap(str(spec.inputs.get("prompt", "")), big, width - 4 * margin)
    line_height = int(big.size * 1.25)
    top = max(margin, (height - line_height * len(lines)) // 2 - margin)
    panel = pixels[max(0, top - margin // 2):top + line_height * len(lines) + margin // 2, margin:width - margin]
    panel //= _PANEL_SHADE
    pixels[height - 2 * small.size:] //= _PANEL_SHADE

    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    white = (255, 255, 255)
    for i, line in enumerate(lines):
        draw.text((2 * margin, top + i * line_height), line, font=big, fill=white)
    caption = f"offline placeholder | {spec.model} | {width}x{height} | {spec.format[2]}"
    if spec.index is not None:  # files of one list output must differ visibly, not just by name
        number = f"{spec.index + 1}/{spec.count}"
        draw.text((margin, margin // 2), number, font=big, fill=white)
        caption += f" | image {number}"
    draw.text((margin, height - int(1.6 * small.size)), caption, font=small, fill=white)
    return image


def encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    """The file's bytes: PNG by `write_png`, JPEG and WebP by Pillow at `quality`."""
    if fmt == "PNG":
        return write_png(np.asarray(image))
    out = io.BytesIO()
    if fmt == "WEBP":
        image.save(out, fmt, quality=quality, method=0)  # method 0: ~5x faster, a few % larger
    else:
        image.save(out, fmt, quality=quality)
    return out.getvalue()


def write_png(pixels: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of `pixels` (H x W x 3 uint8): every row Sub-filtered, Huffman-only deflate.

    A valid PNG any decoder reads; for grainy pictures within a few % of the size Pillow's adaptive
    filtering gives, at a fraction of its time."""
    height, width, _ = pixels.shape
    rows = pixels.reshape(height, width * 3)
    filtered = np.empty((height, width * 3 + 1), np.uint8)
    filtered[:, 0] = 1  # filter type Sub: each byte minus the same channel of the pixel to its left
    filtered[:, 1:4] = rows[:, :3]
    np.subtract(rows[:, 3:], rows[:, :-3], out=filtered[:, 4:])
    compressor = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
    stream = compressor.compress(filtered.data) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    parts = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header)]
    view = memoryview(stream)
    parts += [_chunk(b"IDAT", view[i:i + _IDAT_CHUNK]) for i in range(0, len(stream), _IDAT_CHUNK)]
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def _chunk(kind: bytes, data: Any) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return b"".join((struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)))


def _along(points: tuple[tuple[float, float], ...], x: float) -> float:
    """Piecewise-linear lookup in (x, y) points; flat outside them."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _field(width: int, height: int, digest: bytes, amplitude: int) -> np.ndarray:
    """Smooth colour (H x W x 3 uint8) leaving margin_for(amplitude) free at both ends, so the grain
    added to it never wraps:
    a vertical and a horizontal profile per channel through a few points drawn from the digest."""
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    low, high = margin_for(amplitude) + 8, 255 - margin_for(amplitude) - 8
    span = (high - low) / 2
    profiles = [np.interp(np.linspace(0, 1, n), np.linspace(0, 1, k), rng.uniform(0, span, k)).astype(np.uint8)
                for n, k in ((height, 5), (width, 7)) for _ in range(3)]
    vertical = np.stack(profiles[:3], axis=1)[:, None, :] + np.uint8(low)
    horizontal = np.stack(profiles[3:], axis=1)[None, :, :]
    field = np.empty((height, width, 3), np.uint8)
    np.add(vertical, horizontal, out=field)
    return field


# Texture: the detail a photo keeps at every scale (a downscaled photo is still detailed, which
# decides the size of a preview), as value noise at a few cell sizes, scaled up smoothly.
# (pixels per cell at a long side of 1024, scaled with the image; weight; sharp or smooth edges)
TEXTURE = ((1, 1.0, True), (3, 2.0, True), (9, 2.0, True), (27, 1.0, False))
TEXTURE_AMPLITUDE = 50  # +- at the sum of the octaves
_MAX_GRAIN_BYTES = 256 * 1024 * 1024  # cached grain fields (a 4K one is 50 MB)

_grain_lock = threading.Lock()
_grain_fields: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()


def margin_for(amplitude: int) -> int:
    """How far the grain of `amplitude` reaches from the smooth field (so the field leaves room)."""
    return amplitude + TEXTURE_AMPLITUDE


def _grain(width: int, height: int, amplitude: int) -> np.ndarray:
    """Grain (H x W x 3, as wrapping uint8) within +-margin_for(amplitude): per-pixel noise of
    +-`amplitude` over multi-scale texture. Fixed seeds: the same bytes in every process; made once
    per size and amplitude and kept (bounded), since drawing it costs more than the rest."""
    key = (width, height, amplitude)
    with _grain_lock:
        field = _grain_fields.get(key)
        if field is not None:
            _grain_fields.move_to_end(key)
            return field
    rng = np.random.default_rng(amplitude)
    total = np.zeros((height, width, 3), np.int16)
    scale = max(width, height) / 1024
    share = TEXTURE_AMPLITUDE / sum(weight for _, weight, _ in TEXTURE)
    for cell, weight, sharp in TEXTURE:
        size = max(1, round(cell * scale))
        if size == 1 and not sharp:
            continue
        small = rng.integers(0, 256, (-(-height // size) + 1, -(-width // size) + 1, 3), dtype=np.uint8)
        if sharp:
            layer = np.asarray(small).repeat(size, 0).repeat(size, 1)[:height, :width]
        else:
            layer = np.asarray(Image.fromarray(small).resize(
                ((small.shape[1] - 1) * size, (small.shape[0] - 1) * size), Image.Resampling.BILINEAR))[:height, :width]
        total += ((layer.astype(np.int16) - 128) * (share * weight / 128)).astype(np.int16)
    total += rng.integers(-amplitude, amplitude + 1, (height, width, 3), dtype=np.int8)
    field = total.astype(np.int8).view(np.uint8)
    with _grain_lock:
        _grain_fields[key] = field
        while sum(f.nbytes for f in _grain_fields.values()) > _MAX_GRAIN_BYTES and len(_grain_fields) > 1:
            _grain_fields.popitem(last=False)
    return field
