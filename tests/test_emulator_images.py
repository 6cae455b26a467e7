"""Output files: real JPEG/PNG/WebP at each model's sizes, deterministic, served without blocking."""

from __future__ import annotations

import asyncio
import io
import time

import httpx
import pytest
from PIL import Image

from imagen_ui.emulator import Emulator
from imagen_ui.emulator.sizes import pixel_size

CREATE = "/v1/models/google/imagen-4-fast/predictions"
SIZES = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408), "16:9": (1408, 768)}
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def emulator(make_emulator) -> Emulator:
    """Sync answers always settled ("succeeded"): these tests check exact shapes. The early
    "processing" answers have their own tests."""
    return make_emulator(latency=0.05, retention=3600, early_answers=0.0)

AUTH = {"Authorization": "Bearer x"}  # Replicate answers 401 to a request without a token


def generate(emu: Emulator, **inputs) -> tuple[dict, httpx.Response]:
    with httpx.Client(base_url=emu.base_url, trust_env=False, headers=AUTH, timeout=10) as h:
        body = h.post(CREATE, json={"input": inputs}, headers={"Prefer": "wait=10"}).json()
        assert body["status"] == "succeeded", body
        return body, h.get(body["output"])


@pytest.mark.parametrize("output_format", ["jpg", "png"])
def test_every_aspect_ratio_has_imagen_4_pixel_size(emulator: Emulator, output_format: str) -> None:
    for aspect_ratio, size in SIZES.items():
        body, file = generate(emulator, prompt=f"a {aspect_ratio} test", aspect_ratio=aspect_ratio,
                              output_format=output_format)
        assert body["output"].endswith(f".{output_format}")
        assert file.status_code == 200
        assert file.headers["content-type"] == ("image/jpeg" if output_format == "jpg" else "image/png")
        image = Image.open(io.BytesIO(file.content))
        image.load()
        assert (image.format, image.size) == ("JPEG" if output_format == "jpg" else "PNG", size)


def test_identical_requests_give_identical_bytes(emulator: Emulator, make_emulator) -> None:
    inputs = {"prompt": "the same fox", "aspect_ratio": "16:9", "output_format": "png"}
    _, first = generate(emulator, **inputs)
    _, second = generate(emulator, **inputs)
    _, elsewhere = generate(make_emulator(latency=0.05, early_answers=0.0), **inputs)  # no shared cache: really re-drawn
    assert first.content == second.content == elsewhere.content
    _, other = generate(emulator, **{**inputs, "prompt": "another fox"})
    assert other.content != first.content
    _, stricter = generate(emulator, **{**inputs, "safety_filter_level": "block_low_and_above"})
    assert stricter.content != first.content  # every input is part of the drawing


def test_prompt_text_is_drawn(emulator: Emulator) -> None:
    _, with_text = generate(emulator, prompt="WWWWWWWWWW WWWWWWWWWW", output_format="png")
    _, short = generate(emulator, prompt="i", output_format="png")
    count_white = lambda data: Image.open(io.BytesIO(data)).convert("L").point(lambda v: v > 250 and 255).histogram()[255]
    assert count_white(with_text.content) > 5 * count_white(short.content)


def test_files_need_no_token_and_unknown_files_are_404(make_emulator) -> None:
    emu = make_emulator(latency=0.05, token="secret")
    with httpx.Client(base_url=emu.base_url, trust_env=False, headers=AUTH, timeout=10) as h:
        auth = {"Authorization": "Bearer secret"}
        body = h.post(CREATE, json={"input": {"prompt": "x"}}, headers={**auth, "Prefer": "wait=10"}).json()
        assert h.get(body["output"]).status_code == 200
        assert h.get(f"/files/{body['id']}/output.png").status_code == 404
        assert h.get("/files/nope/output.jpg").status_code == 404


def test_concurrent_predictions_overlap_rendering_with_latency(make_emulator) -> None:
    latency = 1.0
    emu = make_emulator(latency=latency)

    async def run() -> float:
        async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False, headers=AUTH, timeout=30) as h:
            async def one(i: int) -> None:
                r = await h.post(CREATE, headers={"Prefer": "wait=30"}, json={"input": {
                    "prompt": f"prompt number {i}", "aspect_ratio": list(SIZES)[i % 5],
                    "output_format": "png" if i % 2 else "jpg"}})
                assert r.status_code == 201 and (await h.get(r.json()["output"])).status_code == 200

            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(16)))
            return time.monotonic() - started

    assert asyncio.run(run()) < latency * 1.5


# -- other models' shapes: list outputs, sizes for any aspect ratio, output_quality ------------------

FLUX = "/v1/models/black-forest-labs/flux-schnell/predictions"
# cog-flux's ASPECT_RATIOS at 1 megapixel; "0.25" halves each side.
FLUX_SIZES = {
    "1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "3:2": (1216, 832), "2:3": (832, 1216),
    "4:5": (896, 1088), "5:4": (1088, 896), "3:4": (896, 1152), "4:3": (1152, 896), "9:16": (768, 1344),
    "9:21": (640, 1536),
}


def run_model(emu: Emulator, path: str, **inputs) -> dict:
    with httpx.Client(base_url=emu.base_url, trust_env=False, headers=AUTH, timeout=10) as h:
        body = h.post(path, json={"input": inputs}, headers={"Prefer": "wait=10"}).json()
    assert body["status"] == "succeeded", body
    return body


def image_of(url: str) -> Image.Image:
    image = Image.open(io.BytesIO(httpx.get(url, trust_env=False).content))
    image.load()
    return image


def test_a_list_output_has_num_outputs_distinct_files_and_no_others(emulator: Emulator) -> None:
    body = run_model(emulator, FLUX, prompt="four cakes", num_outputs=4, output_format="png")
    assert [url.rsplit("/", 1)[1] for url in body["output"]] == [f"output_{i}.png" for i in range(4)]
    images = [image_of(url) for url in body["output"]]
    assert len({image.tobytes() for image in images}) == 4
    assert body["logs"].startswith("Generated 4 images in ")
    base = body["output"][0].rsplit("/", 1)[0]
    for missing in ("output_4.png", "output.png", "output_0.webp"):
        assert httpx.get(f"{base}/{missing}", trust_env=False).status_code == 404
    (single,) = run_model(emulator, FLUX, prompt="one cake")["output"]  # the default: one file, still a list
    assert single.endswith("/output_0.webp")


def test_the_file_number_is_drawn_on_each_image(emulator: Emulator) -> None:
    # The number is white text in the top-left corner, where nothing else is drawn.
    first, second = (image_of(url).convert("L") for url in
                     run_model(emulator, FLUX, prompt="x", num_outputs=2, output_format="png")["output"])
    width = first.size[0]
    band = (0, 0, width // 4, width // 16)
    white = lambda image: image.crop(band).point(lambda v: v > 250 and 255).histogram()[255]
    assert white(first) > 0 and white(second) > 0
    plain = image_of(run_model(emulator, CREATE, prompt="x", output_format="png")["output"]).convert("L")
    assert plain.size == first.size and white(plain) == 0, "a single-file output carries no number"


def test_sizes_follow_each_models_own_table() -> None:
    # Over HTTP in test_bundled_models; here every row of the tables, without rendering 32 images.
    for aspect_ratio, (width, height) in FLUX_SIZES.items():
        assert pixel_size("black-forest-labs/flux-schnell", {"aspect_ratio": aspect_ratio, "megapixels": "1"}) == (
            width, height)
        assert pixel_size("black-forest-labs/flux-schnell", {"aspect_ratio": aspect_ratio, "megapixels": "0.25"}) == (
            width // 2, height // 2)
    for aspect_ratio, (width, height) in SIZES.items():
        for model in ("google/imagen-4-fast", "google/imagen-4-ultra", "google/imagen-4"):
            assert pixel_size(model, {"aspect_ratio": aspect_ratio}) == (width, height)
        assert pixel_size("google/imagen-4", {"aspect_ratio": aspect_ratio, "image_size": "2K"}) == (
            2 * width, 2 * height)


def test_a_2k_file_is_served_at_2k(emulator: Emulator) -> None:
    body = run_model(emulator, "/v1/models/google/imagen-4/predictions", prompt="p", aspect_ratio="3:4",
                     image_size="2K", output_format="png")
    assert image_of(body["output"]).size == (1792, 2560)


def test_any_aspect_ratio_gets_a_size_of_the_right_shape_and_area() -> None:
    for aspect_ratio in ("2:1", "1:3", "7:5", "32:9", "5:8"):
        w, h = (int(n) for n in aspect_ratio.split(":"))
        for model, inputs, area, multiple in [
            ("black-forest-labs/flux-schnell", {"megapixels": "1"}, 2**20, 16),
            ("black-forest-labs/flux-schnell", {"megapixels": "0.25"}, 2**18, 16),
            ("google/imagen-4", {"image_size": "1K"}, 2**20, 64),
            ("google/imagen-4", {"image_size": "2K"}, 2**22, 128),
        ]:
            width, height = pixel_size(model, {**inputs, "aspect_ratio": aspect_ratio})
            assert width % multiple == 0 and height % multiple == 0, (model, inputs, aspect_ratio)
            assert abs(width / height - w / h) < (w / h) * 2 * multiple / min(width, height), (model, aspect_ratio)
            assert 0.85 < width * height / area < 1.15, (model, inputs, aspect_ratio, width, height)


def test_output_quality_is_honoured_for_jpg_and_webp(emulator: Emulator) -> None:
    def file(output_format: str, quality: int) -> bytes:
        (url,) = run_model(emulator, FLUX, prompt="same picture", output_format=output_format,
                           output_quality=quality)["output"]
        return httpx.get(url, trust_env=False).content

    # JPEG: the quality is in the file itself, as its quantization tables (quality 100 -> all ones).
    best = Image.open(io.BytesIO(file("jpg", 100)))
    worst = Image.open(io.BytesIO(file("jpg", 5)))
    assert set(best.quantization[0]) == {1}
    assert sum(worst.quantization[0]) > 20 * sum(best.quantization[0])
    assert len(file("webp", 5)) < len(file("webp", 95)) / 2
