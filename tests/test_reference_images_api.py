"""Reference images through the app's own API (gradio_client, as "Use via API" and MCP callers send
them): good ones reach the model once each, bad ones are refused with a message and nothing sent."""

from __future__ import annotations

import io

import pytest
from client_helpers import bomb_png
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from playground import serve

NANO_API = "/generate_nano_banana_pro"
pytestmark = pytest.mark.timeout(180)


def png(colour, size=(320, 180)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def api(make_emulator, tmp_path, monkeypatch):
    # Gradio keeps what the client uploads in its upload folder: a test's own, removed with it.
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    emulator = make_emulator(latency=0.1)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        yield Client(url, verbose=False, analytics_enabled=False, download_files=str(tmp_path / "dl")), emulator


def generate(client, files, **inputs):
    images = [{"image": handle_file(str(path)), "caption": None} for path in files]
    return client.predict(prompt=inputs.pop("prompt", "a cat"), image_input=images, resolution="1K",
                          num_images=inputs.pop("num_images", 1), api_name=NANO_API, **inputs)


def test_two_images_through_the_api_are_uploaded_once_each(api, tmp_path):
    client, emulator = api
    paths = []
    for name, colour in (("a.png", (200, 0, 0)), ("b.png", (0, 0, 200))):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(png(colour))
    gallery, status = generate(client, paths, num_images=2)
    assert len(gallery) == 2 and status.count("done in") == 2
    assert emulator.count("POST", "/v1/files") == 2
    predictions = emulator.predictions()
    assert len(predictions) == 2 and all(len(p["input"]["image_input"]) == 2 for p in predictions)


def test_each_bad_file_is_refused_with_a_message_and_nothing_is_sent(api, tmp_path):
    client, emulator = api
    huge = tmp_path / "huge.png"
    with huge.open("wb") as file:
        file.truncate(150 * 1024 * 1024)
    cases = {
        "notes.png": (b"a shopping list, renamed", "notes.png is not an image"),
        "empty.png": (b"", "empty.png is empty (0 bytes)"),
        "bomb.png": (bomb_png(), "bomb.png is 400 MP, too large to decode safely"),
    }
    for name, (data, words) in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(AppError) as refused:
            generate(client, [path])
        assert words in str(refused.value), (name, str(refused.value))
    # 150 MB: the app's upload cap (launch's max_file_size, 20 MB as the image limit) refuses it
    # before it is even uploaded to the app; the service's own "images must be 20 MB or less" is
    # tested in test_input_images.
    with pytest.raises(ValueError, match="exceeds the maximum file size of 20971520 bytes"):
        generate(client, [huge])
    many = []
    for i in range(15):
        many.append(tmp_path / f"ref-{i}.png")
        many[-1].write_bytes(png((i * 15, 90, 90), (32, 32)))
    with pytest.raises(AppError) as refused:
        generate(client, many)
    assert "takes at most 14 images on google/nano-banana-pro; 15 were given" in str(refused.value)
    assert emulator.count("POST", "/v1/files") == 0 and emulator.predictions() == []
