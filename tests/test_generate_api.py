"""The Gradio API `/generate`, driven through gradio_client against the real app and the emulator."""

from __future__ import annotations

import time

import pytest
from conftest import free_port, wait_until
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image
from playground import serve

SIZES = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408),
         "16:9": (1408, 768)}
PERMISSIVE = "block_only_high"


@pytest.fixture
def api(make_emulator, tmp_path):
    """A started app against a fresh emulator, and a gradio_client for its API."""
    emulator = make_emulator(latency=0.05)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        client = Client(url, verbose=False, analytics_enabled=False, download_files=str(tmp_path / "dl"))
        yield client, emulator, app


def generate(client, prompt="a lighthouse at dusk", aspect="1:1", fmt="jpg", safety=PERMISSIVE, n=1):
    return client.predict(prompt, aspect, fmt, safety, n, api_name="/generate")


def gallery_files(result) -> list[str]:
    gallery, _status = result
    return [item["image"] for item in gallery]


@pytest.mark.parametrize("aspect,fmt", [("1:1", "jpg"), ("3:4", "png"), ("4:3", "jpg"),
                                        ("9:16", "png"), ("16:9", "png")])
def test_each_aspect_ratio_and_format_gives_the_right_image(api, aspect, fmt):
    client, emulator, _ = api
    files = gallery_files(generate(client, aspect=aspect, fmt=fmt))
    assert len(files) == 1
    with Image.open(files[0]) as image:
        assert image.format == {"jpg": "JPEG", "png": "PNG"}[fmt]
        assert image.size == SIZES[aspect]
    assert files[0].endswith("." + fmt)  # served as made, never re-encoded to webp
    [prediction] = emulator.predictions()
    assert prediction["input"]["aspect_ratio"] == aspect


def test_downloaded_file_name_says_what_it_is(api):
    client, emulator, _ = api
    [path] = gallery_files(generate(client, prompt="A Red Fox, in snow!", fmt="png"))
    [prediction] = emulator.predictions()
    name = path.rsplit("/", 1)[-1]
    assert name.startswith("imagen-4-fast_")
    assert "a-red-fox-in-snow" in name
    assert name.endswith(f"_{prediction['id']}.png")


def test_four_images_are_four_predictions_made_in_parallel(api):
    client, emulator, _ = api
    emulator.set_latency(1.0)
    started = time.monotonic()
    files = gallery_files(generate(client, n=4))
    elapsed = time.monotonic() - started
    assert len(files) == 4 and len(set(files)) == 4
    assert len(emulator.predictions()) == 4
    assert elapsed < 2.5, f"four 1 s images took {elapsed:.1f} s: not in parallel"


@pytest.mark.parametrize(
    "args,words",
    [
        (("   ", "1:1", "jpg", PERMISSIVE, 1), "prompt"),
        (("cat", "2:1", "jpg", PERMISSIVE, 1), "Aspect ratio"),
        (("cat", "1:1", "webp", PERMISSIVE, 1), "Output format"),
        (("cat", "1:1", "jpg", "none", 1), "Safety filter"),
        (("cat", "1:1", "jpg", PERMISSIVE, 5), "Number of images"),
        (("cat", "1:1", "jpg", PERMISSIVE, 0), "Number of images"),
        (("x" * 5000, "1:1", "jpg", PERMISSIVE, 1), "limit"),
        (("bad \x00 control", "1:1", "jpg", PERMISSIVE, 1), "control"),
    ],
)
def test_invalid_input_is_refused_and_nothing_is_sent(api, args, words):
    client, emulator, _ = api
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name="/generate")
    assert words.lower() in str(caught.value).lower()
    assert emulator.predictions() == []
    assert emulator.count("POST", "/v1/") == 0


def test_safety_filter_failure_says_which_setting_loosens_it(api):
    client, _, _ = api
    with pytest.raises(AppError) as caught:
        generate(client, prompt="FLAGGED thing", safety="block_low_and_above")
    assert "Most permissive" in str(caught.value)


def test_one_failed_image_does_not_hide_the_others(api):
    client, emulator, _ = api
    emulator.inject_fault("POST", "/v1/models/", "e005", times=1)
    gallery, status = generate(client, n=4)
    # Tile N is always image N: the failed one keeps its tile, a placeholder that says why.
    assert len(gallery) == 4
    failed = [item for item in gallery if "failed" in item["caption"]]
    assert len(failed) == 1 and "safety filter" in failed[0]["caption"]
    assert failed[0]["image"]["mime_type"] == "image/svg+xml"  # Gradio inlines a placeholder SVG
    assert [item["caption"].split(" · ")[0] for item in gallery] == ["1", "2", "3", "4"]
    assert status.count("safety filter") == 1
    assert status.count("done in") == 3


@pytest.mark.parametrize(
    "status_code,words",
    [(402, "out of credit"), (404, "google/imagen-4-ultra"), (429, "rate-limiting"), (500, "server error")],
)
def test_replicate_errors_become_a_persons_words(api, status_code, words):
    client, emulator, _ = api
    emulator.inject_fault("POST", "/v1/models/", status_code, times=10)
    with pytest.raises(AppError) as caught:
        generate(client)
    assert words in str(caught.value)


def test_bad_token_is_reported_and_never_shown(make_emulator, tmp_path):
    emulator = make_emulator(token="r8_the-right-token")
    with serve(tmp_path / "o", api_base=emulator.base_url, token="r8_WRONG-canary-123") as (_, url):
        client = Client(url, verbose=False, analytics_enabled=False)
        with pytest.raises(AppError) as caught:
            generate(client)
    assert "did not accept the API token" in str(caught.value)
    assert "canary" not in str(caught.value)


def test_unreachable_replicate_is_network_trouble(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    with serve(tmp_path / "o", api_base=dead) as (app, url):
        assert app.schema_source == "bundled"
        client = Client(url, verbose=False, analytics_enabled=False)
        with pytest.raises(AppError) as caught:
            generate(client)
    assert "Could not reach Replicate" in str(caught.value)


def test_the_stream_sends_only_what_changes_on_the_page(api):
    client, emulator, _ = api
    emulator.set_latency(1.5)  # past the create's sync window: polling finds the end
    job = client.submit("a quiet harbour at dawn", "1:1", "jpg", PERMISSIVE, 1, api_name="/generate")
    job.result(timeout=30)
    statuses = [status for _gallery, status in job.outputs()]
    # "sent", then the image: the short processing step is held back, not flashed.
    assert len(statuses) == 2, statuses
    assert "sent to Replicate" in statuses[0] and "done in" in statuses[1]


def test_a_long_processing_step_is_shown(api):
    client, emulator, _ = api
    emulator.set_latency(4.0)
    job = client.submit("a slow lighthouse", "1:1", "jpg", PERMISSIVE, 1, api_name="/generate")
    job.result(timeout=30)
    statuses = [status for _gallery, status in job.outputs()]
    assert [s.split(": ", 1)[1].split()[0] for s in statuses] == ["sent", "processing…", "done"]


def test_cancel_cancels_the_remote_predictions(api):
    client, emulator, _ = api
    emulator.set_latency(30)
    job = client.submit("slow one", "1:1", "jpg", PERMISSIVE, 2, api_name="/generate")
    wait_until(lambda: len(emulator.predictions()) == 2)
    job.cancel()
    wait_until(lambda: all(p["status"] == "canceled" for p in emulator.predictions()), timeout=2.0,
               message=lambda: f"not cancelled 2 s after the click: {emulator.predictions()}")
    statuses = [p["status"] for p in emulator.predictions()]
    assert statuses == ["canceled", "canceled"], statuses
    assert emulator.count("POST", "/v1/predictions/") == 2  # one cancel each
