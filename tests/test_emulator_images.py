"""Output files: real JPEG/PNG at Imagen 4's sizes, deterministic, served without blocking."""

from __future__ import annotations

import asyncio
import io
import time

import httpx
import pytest
from PIL import Image

from imagen_ui.emulator import Emulator

CREATE = "/v1/models/google/imagen-4-fast/predictions"
SIZES = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408), "16:9": (1408, 768)}
pytestmark = pytest.mark.timeout(30)


def generate(emu: Emulator, **inputs) -> tuple[dict, httpx.Response]:
    with httpx.Client(base_url=emu.base_url, trust_env=False, timeout=10) as h:
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
    _, elsewhere = generate(make_emulator(latency=0.05), **inputs)  # no shared cache: really re-drawn
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
    with httpx.Client(base_url=emu.base_url, trust_env=False, timeout=10) as h:
        auth = {"Authorization": "Bearer secret"}
        body = h.post(CREATE, json={"input": {"prompt": "x"}}, headers={**auth, "Prefer": "wait=10"}).json()
        assert h.get(body["output"]).status_code == 200
        assert h.get(f"/files/{body['id']}/output.png").status_code == 404
        assert h.get("/files/nope/output.jpg").status_code == 404


def test_concurrent_predictions_overlap_rendering_with_latency(make_emulator) -> None:
    latency = 1.0
    emu = make_emulator(latency=latency)

    async def run() -> float:
        async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False, timeout=30) as h:
            async def one(i: int) -> None:
                r = await h.post(CREATE, headers={"Prefer": "wait=30"}, json={"input": {
                    "prompt": f"prompt number {i}", "aspect_ratio": list(SIZES)[i % 5],
                    "output_format": "png" if i % 2 else "jpg"}})
                assert r.status_code == 201 and (await h.get(r.json()["output"])).status_code == 200

            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(16)))
            return time.monotonic() - started

    assert asyncio.run(run()) < latency * 1.5
