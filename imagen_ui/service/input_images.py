"""Images a person gives a model's image inputs, checked before anything is sent.

Each file must be a real image (its bytes, not its name, say so), decodable, in a format the
model takes, at most MAX_BYTES and MAX_PIXELS (a "decompression bomb", a small file that decodes
to gigabytes, is refused from its header before any pixel is decoded), and no more of them than
the input takes. A refusal names the file and says why, in a person's words.

Values an image input may hold: a local file (a path, or Gradio's file data with a "path"), raw
bytes, an already checked InputImage, or a link (http(s) or data URI) that is sent as it is.
Local paths must lie under one of the allowed folders: a request names a file, the app must not
read whatever file it names.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from imagen_ui.schema import InputField, Problem

__all__ = ["MAX_BYTES", "MAX_PIXELS", "InputImage", "check_image_inputs", "data_uri"]

MAX_BYTES = 20 * 1024 * 1024  # per image; phone photos are 3-12 MB
MAX_PIXELS = 50_000_000  # 50 MP decodes to 150 MB of RGB: beyond that it is refused unread
_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "GIF": "gif"}
_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
_SHOWN = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP", "gif": "GIF"}
# What a file was found to be, by (path, size, mtime, inode): the page checks images when they are
# dropped, so the click only reads them again. Uploaded and kept files never change in place.
_KNOWN: OrderedDict[tuple, tuple[str, int, int, str]] = OrderedDict()
_KNOWN_MAX = 512
_known_lock = threading.Lock()


@dataclass(frozen=True)
class InputImage:
    """One checked image: its bytes, what they are, and the name the person knows it by."""

    name: str
    data: bytes = field(repr=False)
    format: str  # png | jpeg | webp | gif
    width: int
    height: int
    sha256: str

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self.format]

    @property
    def size(self) -> int:
        return len(self.data)


def data_uri(image: InputImage) -> str:
    return f"data:{image.content_type};base64,{base64.b64encode(image.data).decode()}"


def check_image_inputs(fields: Sequence[InputField], values: Mapping[str, object], *, model: str,
                       allowed_roots: Iterable[Path]) -> tuple[dict[str, object], list[Problem]]:
    """The image inputs among `values`, checked: {name: InputImage | link | list of them} (blank
    ones left out), and every problem found. Runs the decoders: call it off the event loop."""
    roots = [Path(root).resolve() for root in allowed_roots]
    checked: dict[str, object] = {}
    problems: list[Problem] = []
    for f in fields:
        raw = values.get(f.name)
        items = [item for item in (raw if isinstance(raw, (list, tuple)) else [raw]) if not _blank(item)]
        if not items:
            continue
        if len(items) > f.image_limit:
            problems.append(Problem(f.name, f"{f.label} takes at most {f.image_limit} image"
                                    f"{'s' * (f.image_limit != 1)} on {model}; {len(items)} were given."))
            continue
        outcomes = [_outcome(item, f, model, roots) for item in items]
        refused = [Problem(f.name, str(o)) for o in outcomes if isinstance(o, _Refused)]
        problems.extend(refused)
        if not refused:
            checked[f.name] = outcomes if f.kind == "array" else outcomes[0]
    return checked, problems


def _outcome(item: object, f: InputField, model: str, roots: list[Path]) -> object:
    try:
        return _one(item, f, model, roots)
    except _Refused as refused:
        return refused


class _Refused(Exception):
    pass


def _blank(item: object) -> bool:
    return item is None or (isinstance(item, str) and not item.strip()) or (isinstance(item, dict) and not item)


def _one(item: object, f: InputField, model: str, roots: list[Path]) -> object:
    if isinstance(item, InputImage):
        return item
    if isinstance(item, str) and item.strip().lower().startswith(("http://", "https://", "data:")):
        return item.strip()  # a link: the model fetches it (the schema's own checks apply)
    if isinstance(item, (bytes, bytearray)):
        return _decode(bytes(item), "image", f, model)
    path = _path_of(item)
    if path is None:
        raise _Refused(f"{f.label}: expected an image file, not {type(item).__name__}.")
    name = _display_name(item, path)
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        raise _Refused(f"{name}: that file was not uploaded here; please upload it again.")
    try:
        status = resolved.stat()
        if status.st_size > MAX_BYTES:
            raise _Refused(f"{name} is {_megabytes(status.st_size)}; images must be {_megabytes(MAX_BYTES)} or less.")
        data = resolved.read_bytes()
    except OSError:
        raise _Refused(f"{name} could not be read; please upload it again.") from None
    key = (str(resolved), status.st_size, status.st_mtime_ns, status.st_ino)
    with _known_lock:
        known = _KNOWN.get(key)
    if known is not None and len(data) == status.st_size and known[0] in f.image_formats:
        fmt, width, height, digest = known
        return InputImage(name, data, fmt, width, height, digest)
    image = _decode(data, name, f, model)
    with _known_lock:
        _KNOWN[key] = (image.format, image.width, image.height, image.sha256)
        while len(_KNOWN) > _KNOWN_MAX:
            _KNOWN.popitem(last=False)
    return image


def _path_of(item: object) -> Path | None:
    if isinstance(item, Path):
        return item
    if isinstance(item, str):
        return Path(item)
    if isinstance(item, Mapping):  # Gradio's file data, or a gallery item {"image": file data}
        inner = item.get("image") if isinstance(item.get("image"), Mapping) else item
        path = inner.get("path")
        return Path(path) if isinstance(path, str) and path else None
    return None


def _display_name(item: object, path: Path) -> str:
    if isinstance(item, Mapping):
        inner = item.get("image") if isinstance(item.get("image"), Mapping) else item
        if isinstance(inner.get("orig_name"), str) and inner["orig_name"]:
            return _short(inner["orig_name"])
    return _short(path.name)


def _short(name: str, limit: int = 60) -> str:
    name = " ".join(name.split())
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size < 10 * 1024 * 1024 else f"{size / 1024 / 1024:.0f} MB"


def _decode(data: bytes, name: str, f: InputField, model: str) -> InputImage:
    if not data:
        raise _Refused(f"{name} is empty (0 bytes).")
    if len(data) > MAX_BYTES:
        raise _Refused(f"{name} is {_megabytes(len(data))}; images must be {_megabytes(MAX_BYTES)} or less.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = _PIL_FORMATS.get(image.format or "")
                width, height = image.size
                if fmt is None or fmt not in f.image_formats:
                    takes = ", ".join(_SHOWN[x] for x in f.image_formats[:-1]) + f" or {_SHOWN[f.image_formats[-1]]}"
                    what = f"a {image.format} image" if image.format else "in a format it does not know"
                    raise _Refused(f"{name} is {what}; {model} takes {takes}.")
                if width * height > MAX_PIXELS:
                    raise _Refused(f"{name} is {width}×{height} pixels ({width * height / 1e6:.0f} MP), too large "
                                   f"to decode safely; the limit is {MAX_PIXELS // 1_000_000} MP.")
                if fmt == "jpeg":
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # checks every block, fast
                image.load()
    except _Refused:
        raise
    except UnidentifiedImageError:
        raise _Refused(f"{name} is not an image (is it another kind of file, renamed?).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as bomb:
        # Pillow refuses the header of a huge image itself; its message holds the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(bomb))
        size = f" is {int(found[1]) / 1e6:.0f} MP," if found else ""
        raise _Refused(f"{name}{size} too large to decode safely; the limit is {MAX_PIXELS // 1_000_000} MP.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _Refused(f"{name} could not be decoded: the file is damaged or cut short.") from None
    return InputImage(name, data, fmt, width, height, hashlib.sha256(data).hexdigest())
