"""The emulator's Files API and its use of input images, with the official client unchanged.

Shapes follow replicate-python's recorded file-operations cassette; input images are fetched the
way Cog downloads a model's inputs, and drawn into the output so a test sees they reached it."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import replicate
from PIL import Image
from replicate.exceptions import ModelError, ReplicateError

from imagen_ui.emulator import Emulator
from imagen_ui.emulator.thumbnails import boxes

pytestmark = pytest.mark.timeout(60)
NANO = "google/nano-banana-pro"
AUTH = {"Authorization": "Bearer x"}
RECORDED_KEYS = {"id", "name", "content_type", "size", "etag", "checksums", "metadata", "created_at",
                 "expires_at", "urls"}


def picture(colour: tuple[int, int, int], size=(640, 360), fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def client(emu: Emulator, **kwargs) -> replicate.Client:
    return replicate.Client(api_token="x", base_url=emu.base_url, **kwargs)


def http(emu: Emulator) -> httpx.Client:
    return httpx.Client(base_url=emu.base_url, trust_env=False, timeout=30, headers=AUTH)


def fetch_image(url: str) -> Image.Image:
    return Image.open(io.BytesIO(httpx.get(url, trust_env=False).content)).convert("RGB")


def near(pixel, colour, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def cell_centres(image: Image.Image, count: int) -> list[tuple[int, int, int]]:
    return [image.getpixel(((l + r) // 2, (t + b) // 2)) for l, t, r, b in boxes(image.size, count)]


# --- the Files API -----------------------------------------------------------------------------


def test_official_client_creates_gets_lists_and_deletes_a_file(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    path.write_bytes(picture((255, 0, 0)))
    c = client(emulator)
    created = c.files.create(path, metadata={"purpose": "test"})
    data = path.read_bytes()
    assert created.name == "red.png" and created.content_type == "image/png" and created.size == len(data)
    assert created.etag == hashlib.md5(data).hexdigest()
    assert created.checksums == {"sha256": hashlib.sha256(data).hexdigest(), "md5": created.etag}
    assert created.metadata == {"purpose": "test"}
    assert created.urls == {"get": f"{emulator.base_url}/v1/files/{created.id}"}
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        base64.b64decode(created.id).decode())  # as recorded: base64 of a UUID
    made, expires = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (created.created_at, created.expires_at))
    assert expires - made == timedelta(hours=24) and re.fullmatch(r".*T\d\d:\d\d:\d\d\.\d{3}Z", created.created_at)

    assert c.files.get(created.id).dict() == created.dict()
    assert [f.id for f in c.files.list()] == [created.id]
    with http(emulator) as h:
        raw = h.get(f"/v1/files/{created.id}").json()
        assert set(raw) == RECORDED_KEYS
        listed = h.get("/v1/files").json()
        assert (listed["next"], listed["previous"], len(listed["results"])) == (None, None, 1)
        assert h.get(f"/v1/files/{created.id}/download").content == data
    assert c.files.delete(created.id) is True  # 204
    with pytest.raises(ReplicateError) as gone:
        c.files.get(created.id)
    assert gone.value.status == 404
    assert c.files.list() == []


def test_multipart_fields_name_and_type_the_file(emulator: Emulator) -> None:
    with http(emulator) as h:
        response = h.post("/v1/files", files={"content": ("blob", b"\x89PNG...", "application/octet-stream")},
                          data={"filename": "cat.png", "type": "image/png", "metadata": '{"a": 1}'})
        assert response.status_code == 201
        body = response.json()
        assert (body["name"], body["content_type"], body["metadata"], body["size"]) == ("cat.png", "image/png", {"a": 1}, 7)
        missing = h.post("/v1/files", files={"other": ("x", b"1")})
        assert missing.status_code == 422 and missing.headers["content-type"] == "application/problem+json"
        assert h.post("/v1/files", json={"content": "x"}).status_code == 400
        assert h.post("/v1/files", files={"content": ("x", b"1")}, data={"metadata": "[1]"}).status_code == 400
    assert len(emulator.files()) == 1


def test_a_file_of_100_mb_or_more_is_refused_with_413(emulator: Emulator) -> None:
    with http(emulator) as h:
        response = h.post("/v1/files", files={"content": ("big.bin", b"\0" * (100 * 1024 * 1024))})
    assert response.status_code == 413
    assert response.json() == {"title": "Request Entity Too Large",
                               "detail": "Files must be less than 100MB in size", "status": 413}
    assert emulator.files() == []
    [recorded] = emulator.requests
    assert recorded.size > 100 * 1024 * 1024 and len(recorded.body) <= 1 << 20  # the log keeps a megabyte


def test_an_expired_file_is_gone(make_emulator) -> None:
    emu = make_emulator(file_lifetime=0.3)
    created = client(emu).files.create(io.BytesIO(b"x"), filename="x.txt")
    assert client(emu).files.get(created.id).id == created.id
    time.sleep(0.4)
    with pytest.raises(ReplicateError) as gone:
        client(emu).files.get(created.id)
    assert gone.value.status == 404


# --- input images reach the model ----------------------------------------------------------------


def test_official_client_uploads_images_and_the_output_shows_them(emulator: Emulator, tmp_path: Path) -> None:
    red, blue = tmp_path / "red.png", tmp_path / "blue.jpg"
    red.write_bytes(picture((255, 0, 0)))
    blue.write_bytes(picture((0, 0, 255), (300, 300), "JPEG"))
    with red.open("rb") as a, blue.open("rb") as b:
        url = client(emulator).run(NANO, input={"prompt": "both", "image_input": [a, b], "resolution": "1K"})
    assert emulator.count("POST", "/v1/files") == 2
    [prediction] = emulator.predictions()
    uploaded = {f["urls"]["get"] for f in emulator.files()}
    assert set(prediction["input"]["image_input"]) == uploaded and len(uploaded) == 2
    image = fetch_image(url)
    assert image.size == (1376, 768)  # match_input_image: the first input's 16:9, Gemini's 1K size
    first, second = cell_centres(image, 2)
    assert near(first, (255, 0, 0)) and near(second, (0, 0, 255)), (first, second)


def test_data_uris_and_own_outputs_are_inputs_too(emulator: Emulator) -> None:
    green = "data:image/png;base64," + base64.b64encode(picture((0, 200, 0), (400, 400))).decode()
    c = client(emulator)
    first = c.run("black-forest-labs/flux-kontext-pro", input={"prompt": "edit", "input_image": green})
    image = fetch_image(first)
    assert image.size == (1024, 1024)  # match_input_image: the square input
    [centre] = cell_centres(image, 1)
    assert near(centre, (0, 200, 0)), centre
    # An output of ours, fed back in (generate, then edit the result): its own green cell shows,
    # scaled down, inside the new output's first cell.
    again = fetch_image(c.run("black-forest-labs/flux-2-pro",
                              input={"prompt": "again", "input_images": [first], "output_format": "png"}))
    left, top, right, _ = boxes(again.size, 1)[0]
    scale = (right - left - 4) / max(image.size)
    l0, t0, r0, b0 = boxes(image.size, 1)[0]
    inner = again.getpixel((left + 2 + round((l0 + r0) / 2 * scale), top + 2 + round((t0 + b0) / 2 * scale)))
    assert near(inner, (0, 200, 0), 60), inner


def test_other_http_urls_are_fetched_for_real(emulator: Emulator) -> None:
    served = picture((250, 250, 0), (200, 100))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/yellow.png":
                self.send_response(200)
                self.send_header("content-type", "image/png")
                self.end_headers()
                self.wfile.write(served)
            else:
                self.send_error(404)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        url = client(emulator).run(NANO, input={"prompt": "y", "image_input": [f"{base}/yellow.png"],
                                                "resolution": "1K", "aspect_ratio": "1:1"})
        [centre] = cell_centres(fetch_image(url), 1)
        assert near(centre, (250, 250, 0)), centre
        with pytest.raises(ModelError) as failed:
            client(emulator).run(NANO, input={"prompt": "n", "image_input": [f"{base}/missing.png"]})
        assert failed.value.prediction.error == f"404 Client Error: Not Found for url: {base}/missing.png"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kind", ["deleted file", "unreachable host", "not an image", "bad data uri"])
def test_an_input_it_cannot_use_fails_the_prediction_at_once(make_emulator, kind: str) -> None:
    emu = make_emulator(latency=3.0)
    c = client(emu)
    if kind == "deleted file":
        stored = c.files.create(io.BytesIO(picture((1, 2, 3))), filename="a.png")
        c.files.delete(stored.id)
        link, words = stored.urls["get"], "404 Client Error: Not Found for url: "
    elif kind == "unreachable host":
        link, words = "http://127.0.0.1:9/a.png", "Failed to download http://127.0.0.1:9/a.png"
    elif kind == "not an image":
        link, words = c.files.create(io.BytesIO(b"just text"), filename="a.png").urls["get"], "cannot identify image file"
    else:
        link, words = "data:image/png;base64,@@@", "Invalid data URI"
    started = time.monotonic()
    prediction = c.predictions.create(model=NANO, input={"prompt": "p", "image_input": [link]})
    prediction.wait()
    assert prediction.status == "failed" and words in prediction.error, prediction.error
    assert time.monotonic() - started < 2.0  # not after the model's 3 s: the inputs are read first


# --- fidelity fixes ----------------------------------------------------------------------------------


def test_input_keys_a_model_does_not_declare_are_ignored(emulator: Emulator) -> None:
    # As Cog does; the Vercel AI SDK always sends num_outputs, even to single-image models.
    url = client(emulator).run("google/imagen-4-fast", input={"prompt": "p", "num_outputs": 2, "seed": 1})
    assert isinstance(url, str) and url.endswith("/output.jpg")
    [prediction] = emulator.predictions()
    assert prediction["input"] == {"prompt": "p", "num_outputs": 2, "seed": 1}  # echoed as sent


@pytest.mark.parametrize("header", [None, "Bearer", "Basic eDp4"])
def test_no_token_is_a_401_even_when_any_token_is_accepted(emulator: Emulator, header) -> None:
    headers = {} if header is None else {"Authorization": header}
    with httpx.Client(base_url=emulator.base_url, trust_env=False, headers=headers) as h:
        for response in (h.get("/v1/account"), h.post("/v1/files", files={"content": ("a", b"1")}),
                         h.post("/v1/models/google/imagen-4-fast/predictions", json={"input": {"prompt": "p"}})):
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json() == {"title": "Unauthenticated",
                                       "detail": "You did not pass a valid authentication token", "status": 401}
    assert emulator.predictions() == [] and emulator.files() == []


def test_sync_answers_can_come_processing_with_the_output_filled(make_emulator) -> None:
    emu = make_emulator(latency=0.05, early_answers=1.0)
    with http(emu) as h:
        answer = h.post("/v1/models/google/imagen-4-fast/predictions", json={"input": {"prompt": "p"}},
                        headers={"Prefer": "wait=10"})
        assert answer.status_code == 201 and answer.headers["preference-applied"] == "wait=10"
        body = answer.json()
        assert body["status"] == "processing" and body["output"].endswith("/output.jpg")
        assert body["completed_at"] is None and "metrics" not in body  # as recorded
        assert h.get(f"/v1/predictions/{body['id']}").json()["status"] == "succeeded"
    assert client(emu).run("google/imagen-4-fast", input={"prompt": "official"}).endswith(".jpg")


def test_about_half_the_sync_answers_come_early_by_default(make_emulator) -> None:
    emu = make_emulator(latency=0.0, seed=3)
    with http(emu) as h:
        statuses = [h.post("/v1/models/google/imagen-4-fast/predictions", json={"input": {"prompt": str(i)}},
                           headers={"Prefer": "wait=5"}).json()["status"] for i in range(40)]
    assert set(statuses) == {"processing", "succeeded"} and 10 <= statuses.count("processing") <= 30


def test_a_retired_model_answers_404_everywhere(make_emulator) -> None:
    emu = make_emulator(retire=["google/imagen-4-fast"])
    c = client(emu)
    with pytest.raises(ReplicateError) as gone:
        c.models.get("google/imagen-4-fast")
    assert gone.value.status == 404
    with http(emu) as h:
        assert h.post("/v1/models/google/imagen-4-fast/predictions", json={"input": {"prompt": "p"}}).json() == {
            "detail": "Not found"}
        version = "efb61e33cffb69a1725083f675a44793929553f479918d01d6ce6e00efbee0d7"
        assert h.get(f"/v1/models/google/imagen-4-fast/versions/{version}").status_code == 404
        assert h.post("/v1/predictions", json={"version": version, "input": {"prompt": "p"}}).status_code == 422
    assert c.models.get("google/imagen-4-ultra").name == "imagen-4-ultra"  # the others are still there
    emu.retire("google/imagen-4-ultra")
    with pytest.raises(ReplicateError):
        c.models.get("google/imagen-4-ultra")
    assert emu.predictions() == []
