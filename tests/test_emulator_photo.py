"""Photo-sized output files: encoded sizes like real outputs, deterministic, and the small switch."""

from __future__ import annotations

import io

import httpx
import numpy
import pytest
from PIL import Image

from imagen_ui.emulator import Emulator
from imagen_ui.emulator import photo
from imagen_ui.emulator.images import ImageSpec

pytestmark = pytest.mark.timeout(60)
MB = 1_000_000


def run(emu: Emulator, model: str, **inputs) -> bytes:
    # A token (Replicate answers 401 without one); "processing" with the file in is a finished answer too.
    with httpx.Client(base_url=emu.base_url, trust_env=False, timeout=30, headers={"Authorization": "Bearer x"}) as h:
        body = h.post(f"/v1/models/{model}/predictions", json={"input": inputs},
                      headers={"Prefer": "wait=30"}).json()
        assert body["status"] in ("succeeded", "processing") and body["output"], body
        output = body["output"] if isinstance(body["output"], str) else body["output"][0]
        return h.get(output).content


@pytest.fixture
def photos(make_emulator) -> Emulator:
    return make_emulator(latency=0.0, small_images=False)


@pytest.mark.parametrize("model,inputs,size,low,high", [
    # The reference figures: a 1408x768 PNG of a photo is 2-3 MB; a 2K PNG about 10 MB; JPEG about a
    # fifth and WebP a twelfth of the PNG.
    ("google/imagen-4-fast", {"aspect_ratio": "16:9", "output_format": "png"}, (1408, 768), 1.9 * MB, 3.0 * MB),
    ("google/imagen-4-fast", {"aspect_ratio": "16:9", "output_format": "jpg"}, (1408, 768), 0.3 * MB, 0.7 * MB),
    ("google/imagen-4", {"aspect_ratio": "16:9", "image_size": "2K", "output_format": "png"}, (2816, 1536),
     8 * MB, 12 * MB),
    ("black-forest-labs/flux-schnell", {"aspect_ratio": "1:1", "output_format": "webp"}, (1024, 1024),
     0.12 * MB, 0.3 * MB),
])
def test_files_weigh_what_real_outputs_of_that_format_and_size_weigh(photos, model, inputs, size, low, high):
    data = run(photos, model, prompt="a red fox asleep in fresh snow at dawn", **inputs)
    assert low <= len(data) <= high, f"{len(data) / MB:.2f} MB"
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes completely: a real file, not just the right header
        assert image.size == size
        assert image.format == {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[inputs["output_format"]]


def test_photo_files_are_deterministic_and_differ_by_request(photos, make_emulator):
    inputs = {"prompt": "the same fox", "aspect_ratio": "1:1", "output_format": "png"}
    first = run(photos, "google/imagen-4-fast", **inputs)
    elsewhere = run(make_emulator(latency=0.0, small_images=False), "google/imagen-4-fast", **inputs)
    assert first == elsewhere  # another emulator, no shared cache: drawn again, the same bytes
    assert run(photos, "google/imagen-4-fast", **{**inputs, "prompt": "another fox"}) != first


def test_small_images_keep_tests_cheap(make_emulator):
    small = run(make_emulator(latency=0.0), "google/imagen-4-fast", prompt="p", output_format="png")
    big = run(make_emulator(latency=0.0, small_images=False), "google/imagen-4-fast", prompt="p",
              output_format="png")
    assert len(small) * 10 < len(big)
    with Image.open(io.BytesIO(small)) as a, Image.open(io.BytesIO(big)) as b:
        assert a.size == b.size == (1024, 1024)


def test_the_prompt_and_file_number_are_drawn_on_photos():
    white = lambda image, box=None: (image.crop(box) if box else image).convert("L").point(
        lambda v: v > 250 and 255).histogram()[255]
    long = photo.compose(ImageSpec.from_inputs("google/imagen-4-fast", {"prompt": "WWWWWWWWWW WWWWWWWWWW"}))
    short = photo.compose(ImageSpec.from_inputs("google/imagen-4-fast", {"prompt": "i"}))
    assert white(long) > 5 * white(short)  # the grain never reaches white: only text does
    listed = photo.compose(ImageSpec("black-forest-labs/flux-schnell", '{"num_outputs":2,"prompt":"x"}', index=1))
    corner = (0, 0, listed.size[0] // 4, listed.size[0] // 16)
    assert white(listed, corner) > 0 and white(short, corner) == 0


def test_png_writer_gives_a_standard_png_of_the_pixels():
    picture = photo.compose(ImageSpec.from_inputs("google/imagen-4-fast", {"prompt": "exact pixels"}))
    data = photo.write_png(numpy.asarray(picture))
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGB" and image.tobytes() == picture.tobytes()  # lossless, every pixel


def test_the_emulator_says_what_drawing_cost(photos):
    with httpx.Client(base_url=photos.base_url, trust_env=False, timeout=30) as h:
        assert h.get("/_emulator/renders").json() == {"images": 0, "seconds": 0.0, "busy_seconds": 0.0}
        run(photos, "google/imagen-4-fast", prompt="counted", output_format="png")
        run(photos, "google/imagen-4-fast", prompt="counted", output_format="png")  # from the cache
        stats = h.get("/_emulator/renders").json()
    assert stats["images"] == 1 and 0 < stats["busy_seconds"] <= stats["seconds"]
