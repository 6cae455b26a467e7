"""Generation parameters in PNG, JPEG and WebP files: the bytes we write, and what Pillow/A1111 read."""

from __future__ import annotations

import io
import random
import re
import time
import zlib

import pytest
from PIL import Image, PngImagePlugin

from imagen_ui.store import metadata

EXIF_IFD, USER_COMMENT = 0x8769, 0x9286

PARAMS = {
    "Model": "google/imagen-4-fast",
    "Aspect ratio": "16:9",
    "Output format": "jpg",
    "Safety filter level": "block_only_high",
    "Size": "1408x768",
    "Prediction": "kr2d2jhqbsrj60cjb2vtmekgh4",
    "Created": "2026-11-26T05:12:33.123456Z",
    "Predict time": 2.51,
}


def picture(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A gradient, so the JPEG has real scan data (not one flat block)."""
    image = Image.new("RGB", size)
    image.putdata([(x * 4 % 256, y * 5 % 256, (x * y) % 256) for y in range(size[1]) for x in range(size[0])])
    return image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture
def png() -> bytes:
    return encode(picture(), "PNG")


@pytest.fixture
def jpeg() -> bytes:
    return encode(picture(), "JPEG", quality=90)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, whole chunk bytes), written independently of the module under test."""
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append((data[pos + 4 : pos + 8], data[pos : pos + 12 + length]))
        pos += 12 + length
    return chunks


def jpeg_header_segments(data: bytes) -> tuple[list[bytes], bytes]:
    """(segments between SOI and SOS, everything from SOS to the end)."""
    segments, pos = [], 2
    while data[pos + 1] != 0xDA:
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segments.append(data[pos : pos + 2 + length])
        pos += 2 + length
    return segments, data[pos:]


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(fourcc, whole chunk bytes with its pad byte) of a WebP, independently of the module."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    chunks, pos = [], 12
    while pos < len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunks.append((data[pos : pos + 4], data[pos : pos + 8 + size + size % 2]))
        pos += 8 + size + size % 2
    return chunks


WEBP_KINDS = {  # what Pillow (libwebp) writes for each
    "lossy": ("RGB", {"quality": 80}, [b"VP8 "]),
    "lossless": ("RGB", {"lossless": True}, [b"VP8L"]),
    "lossy-alpha": ("RGBA", {"quality": 80}, [b"VP8X", b"ALPH", b"VP8 "]),
    "lossless-alpha": ("RGBA", {"lossless": True}, [b"VP8L"]),  # alpha is a flag in the VP8L header
}


def webp(kind: str, size: tuple[int, int] = (37, 21), **options) -> bytes:
    """A Pillow-made WebP; odd sizes so canvas fields and pad bytes are exercised."""
    mode, defaults, expected = WEBP_KINDS[kind]
    image = picture(size)
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize(size))
    data = encode(image, "WEBP", **defaults, **options)
    if not options:
        assert [fourcc for fourcc, _ in riff_chunks(data)] == expected
    return data


def pillow_jpeg_comment(data: bytes) -> str:
    """What A1111 gets: the UserComment in the Exif IFD, 'UNICODE\\0' + UTF-16 (big-endian).
    Pillow exposes a WebP's EXIF chunk the same way."""
    raw = Image.open(io.BytesIO(data)).getexif().get_ifd(EXIF_IFD)[USER_COMMENT]
    assert raw[:8] == b"UNICODE\x00"
    return raw[8:].decode("utf-16-be")


# --- infotext ---------------------------------------------------------------------------------


def test_format_infotext_writes_prompt_then_one_params_line_in_order():
    text = metadata.format_infotext("a red fox in snow", PARAMS)
    assert text == (
        "a red fox in snow\n"
        'Model: google/imagen-4-fast, Aspect ratio: "16:9", Output format: jpg, '
        "Safety filter level: block_only_high, Size: 1408x768, Prediction: kr2d2jhqbsrj60cjb2vtmekgh4, "
        'Created: "2026-11-26T05:12:33.123456Z", Predict time: 2.51'
    )


def test_round_trip_of_multiline_prompt_and_awkward_values():
    prompt = "line one, with comma: and colon\n\nSteps: 20, Sampler: Euler, CFG: 7\n  indented ☃ 狐"
    params = {**PARAMS, "note": 'say "hi", then: leave\nnow', "padded": " x ", "flag": True, "n": 3}
    text = metadata.format_infotext(prompt, params)
    assert text.count("\n") == prompt.count("\n") + 1  # the params line is one line, the last
    parsed_prompt, parsed = metadata.parse_infotext(text)
    assert parsed_prompt == prompt
    assert list(parsed) == list(params)
    assert parsed["note"] == 'say "hi", then: leave\nnow'
    assert parsed["padded"] == " x "
    assert parsed["flag"] == "true" and parsed["n"] == "3" and parsed["Predict time"] == "2.51"


def test_parse_infotext_reads_an_a1111_line():
    text = (
        "girl with an artist's beret, determined, blue eyes\n"
        "Negative prompt: ugly, fat\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, "
        'Model hash: 45dee52b, Lora hashes: "add_detail: 7c6bad76eb54, more: 1a2b", Version: v1.9.4'
    )
    prompt, params = metadata.parse_infotext(text)
    assert prompt == "girl with an artist's beret, determined, blue eyes\nNegative prompt: ugly, fat"
    assert params == {
        "Steps": "20",
        "Sampler": "Euler a",
        "CFG scale": "7",
        "Seed": "965400086",
        "Size": "512x512",
        "Model hash": "45dee52b",
        "Lora hashes": "add_detail: 7c6bad76eb54, more: 1a2b",
        "Version": "v1.9.4",
    }


@pytest.mark.parametrize("text", ["just a prompt", "a prompt\nwith: two lines", "", "x\nStyle: a, b"])
def test_parse_infotext_without_params_line_is_all_prompt(text):
    assert metadata.parse_infotext(text) == (text, {})


A1111_PARAM = re.compile(r'\s*(\w[\w \-/]*):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')  # its infotext_utils.py


def test_parse_infotext_finds_exactly_the_pairs_a1111s_pattern_finds():
    rng = random.Random(13)
    alphabet = 'ab :,"\\- /\t\ré_1'
    for _ in range(50_000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert metadata._params(line) == A1111_PARAM.findall(line), repr(line)


@pytest.mark.parametrize("unit", ["a ", "a", "a: \"\\", "k: v,", "-/ x"])
def test_parse_infotext_takes_linear_time(unit):
    """A1111's pattern took 1.9 s for 16,000 characters of "a a a…" here, four times longer for
    each doubling. Now the largest text the parser looks at takes milliseconds."""
    def seconds(n: int) -> float:
        text = "prompt\n" + unit * (n // len(unit))
        started = time.perf_counter()
        metadata.parse_infotext(text)
        return time.perf_counter() - started

    small, large = seconds(metadata.MAX_INFOTEXT_CHARS // 8), seconds(metadata.MAX_INFOTEXT_CHARS)
    assert large < 0.5, f"{large:.2f} s for {metadata.MAX_INFOTEXT_CHARS:,} characters"
    assert large < 8 * small * 3 + 0.02  # linear (8x the text), with room for a noisy machine


def test_parse_infotext_leaves_oversized_text_unparsed():
    text = "p\nA: 1, B: 2, C: 3" + " " * metadata.MAX_INFOTEXT_CHARS
    assert metadata.parse_infotext(text) == (text, {})


def test_format_infotext_rejects_keys_that_would_break_the_line():
    with pytest.raises(ValueError, match="key"):
        metadata.format_infotext("p", {"a: b": 1})


# --- PNG --------------------------------------------------------------------------------------


def test_png_round_trip_inserts_one_text_chunk_before_idat_and_keeps_every_other_chunk(png):
    text = metadata.format_infotext("a red fox\nin snow", PARAMS)
    out = metadata.embed(png, "png", text)

    before, after = png_chunks(png), png_chunks(out)
    added = [chunk for chunk in after if chunk not in before]
    assert len(added) == 1 and added[0][0] == b"tEXt"
    assert [c for c in after if c != added[0]] == before  # all other chunks byte for byte, in order
    kinds = [kind for kind, _ in after]
    assert kinds.index(b"tEXt") < kinds.index(b"IDAT")
    body = added[0][1]
    assert zlib.crc32(body[4:-4]) == int.from_bytes(body[-4:], "big")

    assert Image.open(io.BytesIO(out)).info["parameters"] == text
    assert metadata.read(out) == text
    assert Image.open(io.BytesIO(out)).tobytes() == Image.open(io.BytesIO(png)).tobytes()


def test_png_non_latin1_text_goes_in_itxt_and_pillow_reads_it(png):
    text = metadata.format_infotext("雪の中の赤い狐 ☃\nzweite Zeile", PARAMS)
    out = metadata.embed(png, "png", text)
    assert b"iTXt" in [kind for kind, _ in png_chunks(out)]
    assert Image.open(io.BytesIO(out)).info["parameters"] == text
    assert metadata.read(out) == text


def test_png_existing_parameters_are_replaced_whatever_chunk_type(png):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "old ☃ prompt\nSteps: 1, Sampler: a, Seed: 2")  # iTXt, as A1111 writes
    info.add_text("Software", "kept")
    a1111 = encode(picture(), "PNG", pnginfo=info)
    assert metadata.read(a1111) == "old ☃ prompt\nSteps: 1, Sampler: a, Seed: 2"

    out = metadata.embed(metadata.embed(a1111, "png", "first"), "png", "second")
    image = Image.open(io.BytesIO(out))
    assert image.info["parameters"] == "second" and image.info["Software"] == "kept"
    assert metadata.read(out) == "second"
    keywords = [body[8:].split(b"\0")[0] for kind, body in png_chunks(out) if kind in (b"tEXt", b"iTXt", b"zTXt")]
    assert keywords.count(b"parameters") == 1


def test_png_reads_compressed_text(png):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "zipped prompt\nA: 1, B: 2, C: 3", zip=True)
    assert metadata.read(encode(picture(), "PNG", pnginfo=info)) == "zipped prompt\nA: 1, B: 2, C: 3"


def test_png_without_parameters_reads_none(png):
    assert metadata.read(png) is None


# --- JPEG -------------------------------------------------------------------------------------


def test_jpeg_round_trip_keeps_scan_data_and_segments_byte_for_byte(jpeg):
    text = metadata.format_infotext("a red fox\nin snow", PARAMS)
    out = metadata.embed(jpeg, "jpg", text)

    before, scan_before = jpeg_header_segments(jpeg)
    after, scan_after = jpeg_header_segments(out)
    assert scan_after == scan_before  # SOS .. EOI untouched
    assert before[0][:2] == b"\xff\xe0" and before[0][4:9] == b"JFIF\0"
    assert after[0] == before[0]  # JFIF APP0 stays first
    assert after[1][:2] == b"\xff\xe1" and after[1][4:10] == b"Exif\0\0"
    assert after[2:] == before[1:]  # every other segment unchanged, in order
    assert out[:2] == b"\xff\xd8"

    assert pillow_jpeg_comment(out) == text
    assert after[1][10:12] == b"MM"  # big-endian TIFF, matching the UTF-16-BE text (piexif's layout)
    assert metadata.read(out) == text
    assert Image.open(io.BytesIO(out)).tobytes() == Image.open(io.BytesIO(jpeg)).tobytes()


def test_jpeg_without_app0_gets_exif_right_after_soi(jpeg):
    before, scan = jpeg_header_segments(jpeg)
    bare = b"\xff\xd8" + b"".join(before[1:]) + scan  # drop JFIF
    out = metadata.embed(bare, "jpeg", "prompt ☃")
    after, scan_after = jpeg_header_segments(out)
    assert after[0][4:10] == b"Exif\0\0" and after[1:] == before[1:] and scan_after == scan
    assert pillow_jpeg_comment(out) == "prompt ☃"


def test_jpeg_existing_parameters_are_replaced_not_duplicated(jpeg):
    out = metadata.embed(metadata.embed(jpeg, "jpg", "first\nA: 1, B: 2, C: 3"), "jpg", "second ☃")
    segments, scan = jpeg_header_segments(out)
    assert [s[4:10] for s in segments].count(b"Exif\0\0") == 1
    assert pillow_jpeg_comment(out) == "second ☃" and metadata.read(out) == "second ☃"
    assert scan == jpeg_header_segments(jpeg)[1]


def test_jpeg_written_like_a1111_is_read_and_replaced():
    exif = Image.Exif()
    text = "a1111 prompt\nSteps: 20, Seed: 1, CFG scale: 7"
    exif[EXIF_IFD] = {USER_COMMENT: b"UNICODE\x00" + text.encode("utf-16-be")}  # piexif's layout
    a1111 = encode(picture(), "JPEG", exif=exif.tobytes())
    assert metadata.read(a1111) == "a1111 prompt\nSteps: 20, Seed: 1, CFG scale: 7"
    assert metadata.read(metadata.embed(a1111, "jpg", "ours")) == "ours"


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_jpeg_other_exif_tags_survive(byte_order):
    exif = Image.Exif()
    exif.endian = byte_order
    exif[0x0112] = 6  # Orientation: rotated, must not be lost
    exif[0x010F] = "Camera maker"
    exif[EXIF_IFD] = {0x9003: "2026:11:26 05:12:33"}  # DateTimeOriginal, beside our UserComment
    camera = encode(picture(), "JPEG", exif=exif.tobytes())
    out = metadata.embed(camera, "jpg", "with tags ☃")
    kept = Image.open(io.BytesIO(out)).getexif()
    assert kept[0x0112] == 6 and kept[0x010F] == "Camera maker"
    assert kept.get_ifd(EXIF_IFD)[0x9003] == "2026:11:26 05:12:33"
    assert pillow_jpeg_comment(out) == "with tags ☃"  # rewritten big-endian, as A1111 reads it
    segments, scan = jpeg_header_segments(out)
    assert [s[4:10] for s in segments].count(b"Exif\0\0") == 1
    assert scan == jpeg_header_segments(camera)[1]


def test_jpeg_little_endian_comment_from_another_tool_is_read():
    exif = Image.Exif()
    exif.endian = "<"
    exif[EXIF_IFD] = {USER_COMMENT: b"UNICODE\x00" + "written by exiftool ☃".encode("utf-16-le")}
    assert metadata.read(encode(picture(), "JPEG", exif=exif.tobytes())) == "written by exiftool ☃"


def test_jpeg_text_too_long_for_a_segment_raises(jpeg):
    with pytest.raises(metadata.InfotextTooLong):
        metadata.embed(jpeg, "jpg", "x" * 40_000)


def test_jpeg_without_parameters_reads_none(jpeg):
    assert metadata.read(jpeg) is None


# --- WebP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", WEBP_KINDS)
def test_webp_round_trip_adds_exif_and_keeps_the_bitstream_byte_for_byte(kind):
    original = webp(kind)
    text = metadata.format_infotext("a red fox\nin snow ☃", PARAMS)
    out = metadata.embed(original, "webp", text)

    before, after = riff_chunks(original), riff_chunks(out)
    assert [f for f, _ in after] == [b"VP8X", *(f for f, _ in before if f != b"VP8X"), b"EXIF"]
    assert [c for c in after if c[0] not in (b"VP8X", b"EXIF")] == [c for c in before if c[0] != b"VP8X"]
    vp8x = after[0][1]
    assert vp8x[4:8] == (10).to_bytes(4, "little")
    flags, canvas = vp8x[8], vp8x[12:18]
    assert flags & 0x08  # EXIF
    assert bool(flags & 0x10) == kind.endswith("alpha")  # alpha, taken from the VP8L header if simple
    assert canvas == (37 - 1).to_bytes(3, "little") + (21 - 1).to_bytes(3, "little")
    if before[0][0] == b"VP8X":  # an existing header: only the EXIF flag changes
        assert vp8x[9:] == before[0][1][9:] and flags == before[0][1][8] | 0x08
    assert after[-1][1][8:10] == b"MM"  # bare TIFF in the chunk, big-endian like the JPEG one

    assert pillow_jpeg_comment(out) == text
    assert metadata.read(out) == text
    decoded, source = Image.open(io.BytesIO(out)), Image.open(io.BytesIO(original))
    assert decoded.size == source.size and decoded.mode == source.mode
    assert decoded.tobytes() == source.tobytes()


def test_webp_existing_exif_is_replaced_and_its_other_tags_survive():
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation, written by Pillow into a VP8X file's EXIF chunk
    camera = webp("lossy", exif=exif.tobytes())
    assert [f for f, _ in riff_chunks(camera)] == [b"VP8X", b"VP8 ", b"EXIF"]

    first = metadata.embed(camera, "webp", "first\nA: 1, B: 2, C: 3")
    out = metadata.embed(first, "webp", "second ☃")
    chunks = riff_chunks(out)
    assert [f for f, _ in chunks] == [b"VP8X", b"VP8 ", b"EXIF"]
    assert chunks[1] == riff_chunks(camera)[1]  # the bitstream, byte for byte
    assert chunks[0][1][9:] == riff_chunks(camera)[0][1][9:]
    assert Image.open(io.BytesIO(out)).getexif()[0x0112] == 6
    assert pillow_jpeg_comment(out) == "second ☃" and metadata.read(out) == "second ☃"


def test_webp_written_like_a1111_is_read():
    exif = Image.Exif()
    exif[EXIF_IFD] = {USER_COMMENT: b"UNICODE\x00" + "a1111 webp\nSteps: 20, Seed: 1, CFG scale: 7".encode("utf-16-be")}
    a1111 = webp("lossy", exif=exif.tobytes())
    assert metadata.read(a1111) == "a1111 webp\nSteps: 20, Seed: 1, CFG scale: 7"
    # Older writers kept JPEG's "Exif\0\0" at the start of the chunk.
    chunks = riff_chunks(a1111)
    tiff = chunks[-1][1][8 : 8 + int.from_bytes(chunks[-1][1][4:8], "little")]
    body = b"".join(c for _, c in chunks[:-1]) + b"EXIF" + (len(tiff) + 6).to_bytes(4, "little") + b"Exif\0\0" + tiff
    body += b"\0" * (len(tiff) % 2)
    prefixed = b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body
    assert metadata.read(prefixed) == "a1111 webp\nSteps: 20, Seed: 1, CFG scale: 7"
    assert metadata.read(metadata.embed(prefixed, "webp", "ours")) == "ours"


def test_webp_animation_gets_exif_after_its_frames():
    frames = [picture((20, 10)), picture((20, 10)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    animated = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    out = metadata.embed(animated, "webp", "moving ☃")
    before, after = riff_chunks(animated), riff_chunks(out)
    assert [f for f, _ in after] == [b"VP8X", b"ANIM", b"ANMF", b"ANMF", b"EXIF"]
    assert after[1:4] == before[1:4]
    assert pillow_jpeg_comment(out) == "moving ☃" and Image.open(io.BytesIO(out)).n_frames == 2


def test_webp_xmp_stays_after_exif():
    original = webp("lossy", xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    out = metadata.embed(original, "webp", "t")
    assert [f for f, _ in riff_chunks(out)] == [b"VP8X", b"VP8 ", b"EXIF", b"XMP "]
    assert riff_chunks(out)[3] == riff_chunks(original)[2]
    assert Image.open(io.BytesIO(out)).info["xmp"] == b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"


def test_webp_without_parameters_reads_none():
    assert metadata.read(webp("lossless")) is None


@pytest.mark.parametrize("damage", ["vp8 start code", "vp8l signature", "no image chunk", "riff size"])
def test_webp_corrupt_structure_raises_value_error(damage):
    lossy, lossless = webp("lossy"), webp("lossless")
    broken = {
        "vp8 start code": lossy.replace(b"\x9d\x01\x2a", b"\x00\x01\x2a", 1),
        "vp8l signature": lossless[:20] + b"\x00" + lossless[21:],
        "no image chunk": b"RIFF\x16\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00" + bytes(10),  # a header, nothing else
        "riff size": lossy[:4] + (len(lossy) - 7).to_bytes(4, "little") + lossy[8:],
    }[damage]
    with pytest.raises(ValueError, match="WebP"):
        metadata.embed(broken, "webp", "text")


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"\xff\xd8\xff", b"GIF89a....",
                                  b"RIFF\x04\x00\x00\x00WEBP", b"RIFF\x0c\x00\x00\x00WEBPJUNK\x00\x00\x00\x00"])
def test_garbage_raises_value_error(data):
    with pytest.raises(ValueError):
        metadata.read(data)
    fmt = {b"\x89": "png", b"R": "webp"}.get(data[:1], "jpg")
    with pytest.raises(ValueError):
        metadata.embed(data, fmt, "text")


def encoded(kind: str) -> bytes:
    """A small file of ``kind`` with our parameters in it."""
    if kind == "webp":
        plain = webp("lossy-alpha", (24, 16))  # VP8X, ALPH, VP8: the most chunks to parse
    else:
        plain = encode(picture((24, 16)), "PNG" if kind == "png" else "JPEG")
    return metadata.embed(plain, kind, "prompt ☃\nA: 1, B: 2, C: 3")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["png", "jpg", "webp"])
def test_every_truncation_raises_value_error(kind):
    data = encoded(kind)
    for cut in range(len(data)):
        with pytest.raises(ValueError):
            metadata.read(data[:cut])
        with pytest.raises(ValueError):
            metadata.embed(data[:cut], kind, "new")


@pytest.mark.timeout(60)
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corrupt EXIF it skips
@pytest.mark.parametrize("kind", ["png", "jpg", "webp"])
def test_corrupted_bytes_give_text_none_or_value_error_never_anything_else(kind):
    data = encoded(kind)
    rng = random.Random(1234)
    # Hit where parsing happens: the header before the image data, or a WebP's chunk headers and EXIF.
    if kind == "webp":
        targets = [*range(4, 30), *range(data.find(b"EXIF"), len(data))]  # RIFF, VP8X, EXIF
    else:
        targets = range(2, data.find(b"IDAT") if kind == "png" else data.find(b"\xff\xda"))
    for _ in range(1500):
        broken = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            broken[rng.choice(targets)] = rng.randrange(256)
        try:
            result = metadata.read(bytes(broken))
        except ValueError:
            continue
        assert result is None or isinstance(result, str)


def test_format_must_match_the_bytes(png, jpeg):
    with pytest.raises(ValueError, match="not a PNG"):
        metadata.embed(jpeg, "png", "t")
    with pytest.raises(ValueError, match="not a JPEG"):
        metadata.embed(png, "jpg", "t")
    with pytest.raises(ValueError, match="not a WebP"):
        metadata.embed(png, "webp", "t")
    with pytest.raises(ValueError, match="not a PNG"):
        metadata.embed(webp("lossy"), "png", "t")
    with pytest.raises(ValueError, match="unsupported"):
        metadata.embed(png, "gif", "t")
