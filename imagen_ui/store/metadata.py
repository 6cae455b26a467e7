"""Generation parameters embedded in image files, the way AUTOMATIC1111 writes them.

The text ("infotext") is the prompt, then one last line of ``Key: value`` pairs::

    a red fox in snow
    Model: google/imagen-4-fast, Aspect ratio: "16:9", Size: 1408x768, ...

PNG keeps it in a ``tEXt`` chunk (``iTXt`` when not latin-1) with keyword ``parameters``;
JPEG and WebP keep it in the EXIF UserComment (tag 0x9286 in the Exif IFD) as ``UNICODE\\0`` +
UTF-16, in an APP1 segment or an ``EXIF`` RIFF chunk. That is what A1111 and Pillow read
(``Image.open(png).info["parameters"]``, ``Image.open(jpg_or_webp).getexif().get_ifd(0x8769)[0x9286]``).

The image data is never re-encoded: :func:`embed` splices chunks/segments and copies every other
byte as the model produced it (a simple WebP gains the ``VP8X`` header that EXIF needs).
Malformed or truncated files raise :class:`ValueError`.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from PIL import Image

__all__ = ["InfotextTooLong", "embed", "embed_parts", "format_infotext", "is_valid_key", "is_webp", "parse_infotext", "read"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEYWORD = b"parameters"
_PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_MAX_INFLATED_TEXT = 1 << 20  # a text chunk larger than this is an attack, not a prompt

JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
_SOS, _APP0, _APP1 = 0xDA, 0xE0, 0xE1
_EXIF_HEADER = b"Exif\x00\x00"
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_UNICODE_PREFIX = b"UNICODE\x00"
_ASCII_PREFIX = b"ASCII\x00\x00\x00"
_JIS_PREFIX = b"JIS\x00\x00\x00\x00\x00"

# WebP container: https://developers.google.com/speed/webp/docs/riff_container
_WEBP_IMAGE_CHUNKS = (b"VP8 ", b"VP8L", b"ALPH", b"ANMF")  # EXIF belongs after the last of these
_VP8X_EXIF, _VP8X_ALPHA = 0x08, 0x10

# A1111's own pattern (modules/infotext_utils.py) is
#     \s*(\w[\w \-/]*):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)
# used with findall. It takes time quadratic in the line's length (each start in a run of key
# characters with no ':' after it rescans the run): a 194-byte PNG whose zTXt inflates to 80,000
# characters held the interpreter for 23 s. `_params` finds the same pairs with these pieces, each
# matched once at a position the scan then moves past: linear time.
_KEY = re.compile(r"\w[\w \-/]*")
_WORD = re.compile(r"\w")
_SPACE = re.compile(r"\s*")
_QUOTED = re.compile(r'"(?:\\.|[^\\"])+"')  # one way to match any text: no backtracking
_PLAIN = re.compile(r"[^,]*")
# Text longer than this is not parameters we wrote (a JPEG segment holds 64 KiB); the whole of it
# is then the prompt, unparsed.
MAX_INFOTEXT_CHARS = 1 << 17
_MIN_PARAMS = 3  # A1111's rule for telling a parameters line from a prompt line


class InfotextTooLong(ValueError):
    """The text does not fit the container (a JPEG segment holds at most 64 KiB)."""


# --- infotext ---------------------------------------------------------------------------------


def format_infotext(prompt: str, params: Mapping[str, object]) -> str:
    """Return the prompt, then a line of ``Key: value`` pairs in the order given.

    ``None`` values are left out; other non-strings are written as JSON (``true``, ``5``).
    Values containing a comma, colon, quote or line break are JSON-quoted, as A1111 does.
    The params line is what :func:`parse_infotext` recognises (A1111's rule: at least 3 pairs).
    """
    pairs = []
    for key, value in params.items():
        if not is_valid_key(key):
            raise ValueError(f"infotext key {key!r} must be letters, digits, spaces, '-', '/' or '_'")
        if value is not None:
            pairs.append(f"{key}: {_quote(_as_text(value))}")
    return f"{prompt}\n{', '.join(pairs)}" if pairs else prompt


def is_valid_key(key: str) -> bool:
    """Whether ``key`` can be a parameter name (A1111's key pattern: no ':' or ',')."""
    return _KEY.fullmatch(key) is not None


def parse_infotext(text: str) -> tuple[str, dict[str, str]]:
    """Split infotext into ``(prompt, {key: value})``; values are unquoted strings.

    The last line holds the parameters when it has at least three ``Key: value`` pairs;
    everything before it is the prompt, verbatim (multi-line prompts round-trip).
    Otherwise the whole text is the prompt.
    """
    if len(text) > MAX_INFOTEXT_CHARS:
        return text, {}
    head, newline, last = text.rstrip("\r\n").rpartition("\n")
    pairs = _params(last)
    if len(pairs) < _MIN_PARAMS:
        return text, {}
    params = {key.strip(): _unquote(value.strip()) for key, value in pairs}
    return (head.removesuffix("\r") if newline else ""), params


def _params(line: str) -> list[tuple[str, str]]:
    """The (key, value) pairs A1111's findall would give for `line` (one line: no newline in it),
    in time linear in its length."""
    pairs = []
    pos, end = 0, len(line)
    while pos < end:
        word = _WORD.search(line, pos)  # a pair can only begin where a key can
        if word is None:
            break
        key_end = _KEY.match(line, word.start()).end()
        if key_end == end or line[key_end] != ":":
            # No ':' after this run of key characters: every start inside it fails the same way.
            pos = key_end
            continue
        value_start = _SPACE.match(line, key_end + 1).end()
        quoted = _QUOTED.match(line, value_start)
        if quoted is not None and (quoted.end() == end or line[quoted.end()] == ","):
            value_end = quoted.end()
        else:
            value_end = _PLAIN.match(line, value_start).end()
        pairs.append((line[word.start():key_end], line[value_start:value_end]))
        pos = value_end + 1  # past the ',' (or the end)
    return pairs


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _quote(value: str) -> str:
    needs_quotes = any(c in value for c in ',:"\n\r') or value != value.strip()
    return json.dumps(value, ensure_ascii=False) if needs_quotes else value


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, str) else value
    return value


# --- public entry points ----------------------------------------------------------------------


def embed(data: bytes, fmt: str, infotext: str) -> bytes:
    """Return ``data`` with ``infotext`` as its parameters, replacing any there already.

    ``fmt`` is ``"png"``, ``"jpg"``, ``"jpeg"`` or ``"webp"`` and must match the bytes. Only the
    parameters chunk/segment is new (and a WebP's ``VP8X`` header: added, or its EXIF flag set);
    all image data and other chunks/segments are copied unchanged.
    """
    return b"".join(embed_parts(data, fmt, infotext))


def embed_parts(data: bytes, fmt: str, infotext: str) -> list[bytes | memoryview]:
    """What :func:`embed` returns, as pieces to write one after the other: the image data stays
    where it is (views into ``data``), so a large image is never copied in memory."""
    kind = fmt.lower()
    if kind == "png":
        if not data.startswith(PNG_SIGNATURE):
            raise ValueError("not a PNG file (bad signature)")
        return _embed_png(data, infotext)
    if kind in ("jpg", "jpeg"):
        if not data.startswith(JPEG_SOI):
            raise ValueError("not a JPEG file (no start-of-image marker)")
        return _embed_jpeg(data, infotext)
    if kind == "webp":
        if not is_webp(data):
            raise ValueError("not a WebP file (no RIFF/WEBP header)")
        return _embed_webp(data, infotext)
    raise ValueError(f"unsupported image format {fmt!r}; expected 'png', 'jpg', 'jpeg' or 'webp'")


def read(data: bytes) -> str | None:
    """Return the infotext of a PNG, JPEG or WebP (ours or A1111's), or ``None`` if it has none."""
    if data.startswith(PNG_SIGNATURE):
        return _read_png(data)
    if data.startswith(JPEG_SOI):
        return _read_jpeg(data)
    if is_webp(data):
        return _read_webp(data)
    raise ValueError("not a PNG, JPEG or WebP file")


def is_webp(data: bytes) -> bool:
    """Whether ``data`` starts like a WebP file (``RIFF<size>WEBP``)."""
    return data.startswith(b"RIFF") and data[8:12] == b"WEBP"


# --- PNG --------------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(type, start, end)`` of every chunk up to and including IEND."""
    pos, size = len(PNG_SIGNATURE), len(data)
    while True:
        if pos + 12 > size:
            raise ValueError(f"truncated PNG: chunk header cut off at byte {pos} (no IEND)")
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise ValueError(f"corrupt PNG: bad chunk header at byte {pos}")
        end = pos + 12 + length
        if end > size:
            raise ValueError(f"truncated PNG: {kind.decode('ascii')} chunk at byte {pos} is cut off")
        yield kind, pos, end
        if kind == b"IEND":
            return
        pos = end


def _png_keyword(data: bytes, start: int, end: int) -> bytes:
    body = data[start + 8 : end - 4]
    return body.split(b"\x00", 1)[0]


def _png_text_chunk(infotext: str) -> bytes:
    if "\x00" in infotext:
        raise ValueError("infotext must not contain NUL characters")
    try:
        kind, body = b"tEXt", PNG_KEYWORD + b"\x00" + infotext.encode("latin-1")
    except UnicodeEncodeError:
        # iTXt: keyword, compression flag+method (none), empty language tag and translated keyword
        kind, body = b"iTXt", PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + infotext.encode("utf-8")
    crc = zlib.crc32(kind + body)
    return len(body).to_bytes(4, "big") + kind + body + crc.to_bytes(4, "big")


def _embed_png(data: bytes, infotext: str) -> list[bytes | memoryview]:
    new_chunk = _png_text_chunk(infotext)
    view = memoryview(data)
    out: list[bytes | memoryview] = [PNG_SIGNATURE]
    inserted = False
    for kind, start, end in _png_chunks(data):
        if kind in _PNG_TEXT_CHUNKS and _png_keyword(data, start, end) == PNG_KEYWORD:
            continue  # old parameters: replaced by the new chunk
        if kind in (b"IDAT", b"IEND") and not inserted:
            out.append(new_chunk)
            inserted = True
        out.append(view[start:end])
    return out


def _read_png(data: bytes) -> str | None:
    found = None
    for kind, start, end in _png_chunks(data):
        if kind in _PNG_TEXT_CHUNKS and _png_keyword(data, start, end) == PNG_KEYWORD:
            found = _decode_png_text(kind, data[start + 8 + len(PNG_KEYWORD) + 1 : end - 4])
    return found  # the last one wins, as in Pillow's ``info``


def _decode_png_text(kind: bytes, rest: bytes) -> str:
    """Decode a text chunk's bytes after ``keyword\\0``."""
    if kind == b"tEXt":
        return rest.decode("latin-1")
    if kind == b"zTXt":
        if not rest or rest[0] != 0:
            raise ValueError("corrupt PNG: unknown zTXt compression method")
        return _inflate(rest[1:]).decode("latin-1")
    if len(rest) < 2:
        raise ValueError("corrupt PNG: iTXt chunk is too short")
    compressed, method = rest[0], rest[1]
    parts = rest[2:].split(b"\x00", 2)  # language tag, translated keyword, text
    if len(parts) != 3:
        raise ValueError("corrupt PNG: malformed iTXt chunk")
    text = parts[2]
    if compressed:
        if method != 0:
            raise ValueError("corrupt PNG: unknown iTXt compression method")
        text = _inflate(text)
    return text.decode("utf-8", errors="replace")


def _inflate(raw: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(raw, _MAX_INFLATED_TEXT)
    except zlib.error as exc:
        raise ValueError(f"corrupt PNG: compressed text does not inflate ({exc})") from None
    if inflater.unconsumed_tail:
        raise ValueError("PNG text chunk inflates to more than 1 MiB")
    return out


# --- JPEG -------------------------------------------------------------------------------------


class _Segment(NamedTuple):
    marker: int
    start: int  # first byte of the marker (or of its fill bytes)
    body: int  # first byte after the marker and length field
    end: int


def _jpeg_segments(data: bytes) -> tuple[list[_Segment], int]:
    """Return the segments between SOI and SOS, and the offset of the SOS marker.

    The scan data from SOS on is not parsed, only checked to end in an EOI marker.
    """
    segments: list[_Segment] = []
    pos, size = len(JPEG_SOI), len(data)
    while True:
        if pos >= size:
            raise ValueError("truncated JPEG: no start-of-scan marker")
        if data[pos] != 0xFF:
            raise ValueError(f"corrupt JPEG: expected a marker at byte {pos}")
        start = pos
        while pos < size and data[pos] == 0xFF:  # optional fill bytes before a marker code
            pos += 1
        if pos >= size:
            raise ValueError("truncated JPEG: file ends inside a marker")
        marker = data[pos]
        pos += 1
        if marker == _SOS:
            break
        if marker in (0x00, 0xD8, 0xD9):
            raise ValueError(f"corrupt JPEG: unexpected marker 0xFF{marker:02X} at byte {start}")
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM and RSTn stand alone
            segments.append(_Segment(marker, start, pos, pos))
            continue
        if pos + 2 > size:
            raise ValueError(f"truncated JPEG: segment length cut off at byte {pos}")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            raise ValueError(f"corrupt JPEG: segment length {length} at byte {pos}")
        if pos + length > size:
            raise ValueError(f"truncated JPEG: segment 0xFF{marker:02X} at byte {start} is cut off")
        segments.append(_Segment(marker, start, pos + 2, pos + length))
        pos += length
    # In entropy-coded data 0xFF is always followed by 0x00 or RSTn, so this can only be EOI.
    if data.find(JPEG_EOI, pos) < 0:
        raise ValueError("truncated JPEG: no end-of-image marker after the scan data")
    return segments, start


def _is_exif(data: bytes, segment: _Segment) -> bool:
    header_end = segment.body + len(_EXIF_HEADER)
    return segment.marker == _APP1 and header_end <= segment.end and data.startswith(_EXIF_HEADER, segment.body)


def _load_exif(payload: bytes) -> Image.Exif:
    """Parse EXIF (TIFF, with or without ``Exif\\0\\0`` before it) with Pillow; ValueError if corrupt."""
    exif = Image.Exif()
    try:
        exif.load(payload)
        exif.get_ifd(_EXIF_IFD)  # parsing is lazy: force it so errors surface here
    except Exception as exc:  # Pillow raises struct.error, SyntaxError, OSError... for bad EXIF
        raise ValueError(f"corrupt EXIF data ({exc})") from None
    return exif


def _exif_payload(infotext: str, base: Image.Exif | None) -> bytes:
    """``Exif\\0\\0`` + TIFF holding ``base``'s tags plus our UserComment, big-endian like piexif."""
    exif = base if base is not None else Image.Exif()
    exif.endian = ">"  # "MM" header; piexif (A1111) always decodes the UTF-16 as big-endian
    exif_ifd = dict(exif.get_ifd(_EXIF_IFD))
    exif_ifd[_USER_COMMENT] = _UNICODE_PREFIX + infotext.encode("utf-16-be")
    exif[_EXIF_IFD] = exif_ifd
    return exif.tobytes()


def _exif_segment(infotext: str, base: Image.Exif | None) -> bytes:
    """An APP1 segment holding ``base``'s tags plus our UserComment."""
    payload = _exif_payload(infotext, base)
    if len(payload) + 2 > 0xFFFF:
        raise InfotextTooLong(f"infotext of {len(infotext)} characters is too long for JPEG EXIF")
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def _embed_jpeg(data: bytes, infotext: str) -> list[bytes | memoryview]:
    segments, sos = _jpeg_segments(data)
    old = next((s for s in segments if _is_exif(data, s)), None)
    base = None
    if old is not None:
        try:
            base = _load_exif(data[old.body : old.end])
        except ValueError:
            old = None  # unreadable EXIF: leave it byte for byte, ours goes first and wins
    new_segment = _exif_segment(infotext, base)

    view = memoryview(data)
    out: list[bytes | memoryview] = [JPEG_SOI]
    inserted = False
    for segment in segments:
        if not inserted and segment.marker != _APP0:  # after SOI and any leading JFIF/JFXX APP0
            out.append(new_segment)
            inserted = True
        if segment is not old:
            out.append(view[segment.start : segment.end])
    if not inserted:
        out.append(new_segment)
    out.append(view[sos:])
    return out


def _read_jpeg(data: bytes) -> str | None:
    segments, _ = _jpeg_segments(data)
    for segment in segments:
        if _is_exif(data, segment):  # Pillow and A1111 use the first EXIF segment only
            exif = _load_exif(data[segment.body : segment.end])
            return _user_comment(exif, data[segment.body + len(_EXIF_HEADER) : segment.end])
    return None


def _user_comment(exif: Image.Exif, tiff: bytes) -> str | None:
    """The decoded UserComment of ``exif``; ``tiff``'s byte order guides headerless UTF-16."""
    comment = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    return _decode_user_comment(comment, tiff.startswith(b"MM")) if comment else None


def _decode_user_comment(raw: object, big_endian: bool) -> str | None:
    """Decode an EXIF UserComment: an 8-byte character-code prefix, then the text."""
    if isinstance(raw, str):  # a writer that typed the tag ASCII
        return raw.rstrip("\x00") or None
    if not isinstance(raw, bytes):  # a malformed tag (e.g. typed as numbers)
        return None
    prefix, body = raw[:8], raw[8:]
    if prefix == _UNICODE_PREFIX:
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            text = body.decode("utf-16", errors="replace")
        else:
            text = body.decode("utf-16-be" if big_endian else "utf-16-le", errors="replace")
    elif prefix == _JIS_PREFIX:
        text = body.decode("shift_jis", errors="replace")
    elif prefix == _ASCII_PREFIX or prefix == b"\x00" * 8:
        text = body.decode("utf-8", errors="replace")
    else:  # no valid prefix: A1111 falls back to UTF-8 of the whole value
        text = raw.decode("utf-8", errors="ignore")
    return text.rstrip("\x00") or None


# --- WebP -------------------------------------------------------------------------------------


class _Chunk(NamedTuple):
    fourcc: bytes
    start: int  # first byte of the chunk header
    size: int  # payload size, as the header says
    end: int  # after the payload and its pad byte

    def payload(self, data: bytes) -> bytes:
        return data[self.start + 8 : self.start + 8 + self.size]


def _webp_chunks(data: bytes) -> list[_Chunk]:
    """The chunks of the RIFF (bytes after the size it states are not part of the file)."""
    if len(data) < 12:
        raise ValueError("truncated WebP: RIFF header cut off")
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if riff_end > len(data):
        raise ValueError(f"truncated WebP: the RIFF header says {riff_end} bytes, there are {len(data)}")
    chunks, pos = [], 12
    while pos < riff_end:
        if pos + 8 > riff_end:
            raise ValueError(f"corrupt WebP: chunk header cut off at byte {pos}")
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size + (size & 1)  # payloads are padded to an even length
        if end > riff_end:
            raise ValueError(f"truncated WebP: chunk {data[pos : pos + 4]!r} at byte {pos} is cut off")
        chunks.append(_Chunk(data[pos : pos + 4], pos, size, end))
        pos = end
    if not chunks or chunks[0].fourcc not in (b"VP8X", b"VP8 ", b"VP8L"):
        raise ValueError("corrupt WebP: the first chunk is not VP8X, VP8 or VP8L")
    return chunks


def _riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + len(payload).to_bytes(4, "little") + payload + b"\x00" * (len(payload) & 1)


def _bitstream_canvas(data: bytes, chunk: _Chunk) -> tuple[int, int, bool]:
    """``(width, height, has_alpha)`` from the header of a simple WebP's VP8 or VP8L bitstream."""
    head = data[chunk.start + 8 : chunk.start + 8 + min(chunk.size, 10)]
    if chunk.fourcc == b"VP8L":
        # Signature 0x2F, then little-endian bits: 14 width-1, 14 height-1, 1 alpha used, 3 version (0).
        fields = int.from_bytes(head[1:5], "little")
        if len(head) < 5 or head[0] != 0x2F or fields >> 29:
            raise ValueError("corrupt WebP: bad VP8L header")
        return (fields & 0x3FFF) + 1, (fields >> 14 & 0x3FFF) + 1, bool(fields >> 28 & 1)
    # VP8 key frame: 3-byte frame tag (bit 0 clear), start code 9D 01 2A, 16-bit width and height
    # whose top 2 bits are a scaling hint, not size.
    if len(head) < 10 or head[0] & 1 or head[3:6] != b"\x9d\x01\x2a":
        raise ValueError("corrupt WebP: bad VP8 key frame header")
    width = int.from_bytes(head[6:8], "little") & 0x3FFF
    height = int.from_bytes(head[8:10], "little") & 0x3FFF
    if not width or not height:
        raise ValueError("corrupt WebP: VP8 frame of zero size")
    return width, height, False


def _embed_webp(data: bytes, infotext: str) -> list[bytes | memoryview]:
    chunks = _webp_chunks(data)
    old = next((chunk for chunk in chunks if chunk.fourcc == b"EXIF"), None)
    base = None
    if old is not None:
        try:
            base = _load_exif(old.payload(data))
        except ValueError:
            pass  # unreadable: dropped, as readers take only the first EXIF chunk anyway
    # The chunk holds bare TIFF, as the WebP spec says and Pillow writes it.
    exif_chunk = _riff_chunk(b"EXIF", _exif_payload(infotext, base).removeprefix(_EXIF_HEADER))

    first, rest = chunks[0], chunks[1:]
    if first.fourcc == b"VP8X":
        if first.size < 10:
            raise ValueError("corrupt WebP: VP8X chunk is too short")
        header = bytearray(data[first.start : first.end])
        header[8] |= _VP8X_EXIF  # only the flag changes; canvas and other flags stay
        out = [bytes(header)]
    else:
        # A simple file has no place for EXIF: give it the extended header, sized from the bitstream.
        width, height, alpha = _bitstream_canvas(data, first)
        flags = _VP8X_EXIF | (_VP8X_ALPHA if alpha else 0)
        canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        out, rest = [_riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + canvas)], chunks

    # EXIF comes after the image data (and before XMP and unknown chunks) in the spec's order.
    last_image = max((i for i, chunk in enumerate(rest) if chunk.fourcc in _WEBP_IMAGE_CHUNKS), default=None)
    if last_image is None:
        raise ValueError("corrupt WebP: no image data")
    view = memoryview(data)
    for i, chunk in enumerate(rest):
        if chunk.fourcc != b"EXIF":
            out.append(view[chunk.start : chunk.end])
        if i == last_image:
            out.append(exif_chunk)
    size = sum(len(part) for part in out)
    return [b"RIFF" + (size + 4).to_bytes(4, "little") + b"WEBP", *out]


def _read_webp(data: bytes) -> str | None:
    for chunk in _webp_chunks(data):
        if chunk.fourcc == b"EXIF":  # libwebp (so Pillow) reads the first one only
            tiff = chunk.payload(data).removeprefix(_EXIF_HEADER)  # older writers kept the JPEG prefix
            return _user_comment(_load_exif(tiff), tiff)
    return None
