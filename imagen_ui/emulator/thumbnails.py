"""The input images a prediction was given, drawn into its output as a row of thumbnails.

So a person (or a test) sees which images reached the model: each one in its own square cell
along the bottom, above the caption, in the order they were sent, framed in white. A cell's
centre is always inside its thumbnail, whatever the image's shape (``boxes`` says where they are).
Kept apart from the placeholder drawing in ``images`` so either can change on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw

THUMB_MAX = 256  # side of the copy kept per input image; cells are drawn from it
_FRAME = 2


@dataclass(frozen=True)
class Thumbnail:
    """A small RGB copy of one input image."""

    width: int
    height: int
    rgb: bytes

    @classmethod
    def of(cls, image: Image.Image) -> "Thumbnail":
        small = image.convert("RGB")
        small.thumbnail((THUMB_MAX, THUMB_MAX))
        return cls(small.width, small.height, small.tobytes())

    def image(self) -> Image.Image:
        return Image.frombytes("RGB", (self.width, self.height), self.rgb)


def cell_side(size: tuple[int, int]) -> int:
    return max(24, min(size) // 7)


def boxes(size: tuple[int, int], count: int) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of each input's cell in an output of `size`: left to right along
    the bottom, rows stacking upwards when they do not fit in one."""
    width, height = size
    side, margin = cell_side(size), max(4, width // 32)
    gap = max(2, side // 8)
    per_row = max(1, (width - 2 * margin + gap) // (side + gap))
    bottom = height - 2 * max(10, width // 48) - gap  # above the caption band (images.render's)
    found = []
    for i in range(count):
        row, column = divmod(i, per_row)
        left = margin + column * (side + gap)
        top = bottom - (row + 1) * side - row * gap
        found.append((left, max(0, top), left + side, max(0, top) + side))
    return found


def draw(image: Image.Image, thumbnails: tuple[Thumbnail, ...]) -> Image.Image:
    """`image` (any mode) as RGB with the thumbnails drawn in their cells."""
    canvas = image.convert("RGB")
    pen = ImageDraw.Draw(canvas)
    for thumbnail, (left, top, right, bottom) in zip(thumbnails, boxes(canvas.size, len(thumbnails))):
        pen.rectangle((left, top, right - 1, bottom - 1), fill=(255, 255, 255))
        picture = thumbnail.image()
        inner = right - left - 2 * _FRAME
        scale = inner / max(picture.size)  # fit the cell: larger inputs shrink, small ones grow
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))))
        x = left + (right - left - picture.width) // 2
        y = top + (bottom - top - picture.height) // 2
        canvas.paste(picture, (x, y))
    return canvas
