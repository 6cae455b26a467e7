"""The Gradio API `/batch`, through gradio_client against the real app and the emulator."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from playground import serve

SETTINGS = {"aspect_ratio": "3:4", "output_format": "png", "safety_filter_level": "block_only_high"}
ALICE = "imagen_ui_visitor=aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"


def run_batch(client, prompts="", file=None, settings=SETTINGS, per_prompt=1, model="google/imagen-4-fast"):
    return client.predict(prompts, file, model, settings, per_prompt, api_name="/batch")


@pytest.fixture
def api(make_emulator, tmp_path):
    emulator = make_emulator(latency=0.05)
    with serve(tmp_path / "outputs", api_base=emulator.base_url) as (app, url):
        yield Client(url, verbose=False, analytics_enabled=False, download_files=str(tmp_path / "dl")), emulator, app


def test_batch_runs_every_line_and_answers_with_the_zip(api):
    client, emulator, app = api
    summary, table, archive = run_batch(client, "a fox\n\nan owl\na heron", per_prompt=2)
    assert "3 prompts" in summary and "3 done" in summary and "6 images" in summary
    assert table.count('class="batch-row batch-succeeded"') == 3
    with zipfile.ZipFile(archive) as zipped:
        rows = list(csv.DictReader(io.StringIO(zipped.read("batch.csv").decode())))
        assert [r["line"] for r in rows] == ["1", "1", "3", "3", "4", "4"]
        for row in rows:
            entry = app.service.history.get_by_prediction(row["prediction_id"])
            assert zipped.read(row["file"]) == entry.path.read_bytes()
            assert entry.inputs["aspect_ratio"] == "3:4" and row["aspect_ratio"] == "3:4"
    assert {p["input"]["output_format"] for p in emulator.predictions()} == {"png"}
    assert len(emulator.predictions()) == 6


def test_a_csv_file_through_the_api(api, tmp_path):
    client, emulator, _ = api
    path = tmp_path / "prompts.csv"
    path.write_text("prompt,aspect_ratio\nwide one,16:9\ntall one,9:16\n", encoding="utf-8")
    summary, _, _ = run_batch(client, file=handle_file(str(path)))
    assert "2 done" in summary
    assert sorted(p["input"]["aspect_ratio"] for p in emulator.predictions()) == ["16:9", "9:16"]


def test_bad_lines_and_non_text_files_are_refused_before_anything_is_sent(api, tmp_path):
    client, emulator, _ = api
    with pytest.raises(AppError) as refused:
        run_batch(client, "fine\n" + "x" * 2100 + "\nfine too")
    assert "Line 2: The prompt is 2,100 characters long" in str(refused.value)
    png = tmp_path / "photo.txt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(AppError) as refused:
        run_batch(client, file=handle_file(str(png)))
    assert "not a text file" in str(refused.value)
    with pytest.raises(AppError) as refused:
        run_batch(client, "a\nb", settings={**SETTINGS, "aspect_ratio": "5:5"})
    assert "Settings: Aspect ratio must be one of" in str(refused.value)
    assert emulator.predictions() == []


def test_public_quota_refuses_a_batch_larger_than_what_is_left_with_what_fits(make_emulator, tmp_path):
    emulator = make_emulator(latency=0.05)
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True, quota_images_per_hour=5,
               quota_concurrent=2) as (_, url):
        client = Client(url, verbose=False, analytics_enabled=False, headers={"cookie": ALICE},
                        download_files=str(tmp_path / "dl"))
        run_batch(client, "one\ntwo")
        with pytest.raises(AppError) as refused:
            run_batch(client, "\n".join(f"p{i}" for i in range(8)))
        message = str(refused.value)
        assert "needs 8 images, but only 3" in message and "first 3 of its 8 prompts" in message
        assert "own Replicate token" in message
        assert len(emulator.predictions()) == 2
