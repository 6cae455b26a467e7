"""Reference images through the service: checked before anything is sent, uploaded once per image
per click in parallel through the Files API, kept in the history, restored by Reuse; models that
Replicate withdrew are found out and put aside. Real client, real emulator, real history on disk."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from client_helpers import FAST_RETRY, bomb_png
from conftest import wait_until_async
from PIL import Image

from imagen_ui.replicate import ReplicateClient
from imagen_ui.schema import InvalidRequest
from imagen_ui.service.catalog_loader import load_catalog
from imagen_ui.service.generation import GenerationService, Visitor
from imagen_ui.store import History
from imagen_ui.store.history import parameters_of

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]
NANO = "google/nano-banana-pro"
FLUX2 = "black-forest-labs/flux-2-pro"
KONTEXT = "black-forest-labs/flux-kontext-pro"
MODELS = ("google/imagen-4-fast", NANO, FLUX2, KONTEXT)


def png(colour=(200, 30, 30), size=(64, 64), noise=False) -> bytes:
    out = io.BytesIO()
    image = Image.effect_noise(size, 80).convert("RGB") if noise else Image.new("RGB", size, colour)
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def uploads(tmp_path) -> Path:
    folder = tmp_path / "gradio-uploads"
    folder.mkdir()
    return folder


@pytest.fixture
async def service(emulator, tmp_path, uploads):
    svc = make_service(emulator, tmp_path, uploads)
    try:
        yield svc
    finally:
        await svc.aclose()
        svc.history.close()


def make_service(emulator, tmp_path, uploads, models=MODELS, **kwargs) -> GenerationService:
    catalog = load_catalog(models, emulator.base_url, "r8_host")
    client = ReplicateClient("r8_host", base_url=emulator.base_url, retry=FAST_RETRY, poll_interval=0.1)
    return GenerationService(client, catalog, History(tmp_path / "history"), default_model=models[0],
                             upload_roots=(uploads,), visitor_api_base=emulator.base_url, **kwargs)


def put(folder: Path, name: str, data: bytes) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


async def finish(generation) -> list:
    snapshots = [snapshot async for snapshot in generation]
    return snapshots


# --- refused before anything is sent --------------------------------------------------------------


async def test_bad_files_are_each_refused_with_a_message_and_nothing_is_sent(service, emulator, uploads):
    big = uploads / "huge.png"
    with big.open("wb") as file:  # 150 MB, sparse: nothing is written but the size
        file.truncate(150 * 1024 * 1024)
    truncated = png(noise=True, size=(300, 300))
    tiff = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tiff, "TIFF")
    cases = {
        "notes.png": (b"just some text, renamed", "notes.png is not an image"),
        "empty.png": (b"", "empty.png is empty (0 bytes)"),
        "huge.png": (None, "huge.png is 150 MB; images must be 20 MB or less"),
        "bomb.png": (bomb_png(), "bomb.png is 400 MP, too large to decode safely; the limit is 50 MP"),
        "wide.png": (bomb_png(8_000), "wide.png is 8000×8000 pixels (64 MP), too large to decode safely"),
        "cut.png": (truncated[: len(truncated) // 2], "cut.png could not be decoded"),
        "scan.tiff": (tiff.getvalue(), "scan.tiff is a TIFF image; google/nano-banana-pro takes PNG, JPEG, WebP or GIF"),
    }
    for name, (data, words) in cases.items():
        path = str(big) if data is None else put(uploads, name, data)
        with pytest.raises(InvalidRequest) as refused:
            service.validate({"prompt": "p", "image_input": [path]}, 1, NANO)
        assert words in str(refused.value), (name, str(refused.value))
    fifteen = [put(uploads, f"{i}.png", png((i * 10, 0, 0))) for i in range(15)]
    with pytest.raises(InvalidRequest) as refused:
        await service.avalidate({"prompt": "p", "image_input": fifteen}, 1, NANO)
    assert "takes at most 14 images on google/nano-banana-pro; 15 were given" in str(refused.value)
    with pytest.raises(InvalidRequest, match="takes at most 8 images"):
        service.validate({"prompt": "p", "input_images": fifteen[:9]}, 1, FLUX2)
    assert emulator.count("POST", "/v1/files") == 0 and emulator.predictions() == []


async def test_a_file_outside_the_upload_folders_is_never_read(service, emulator, tmp_path):
    # A request names a file: /etc/passwd, or another visitor's upload elsewhere, must not be sent.
    secret = tmp_path / "secret.png"
    secret.write_bytes(png())
    for named in (str(secret), {"path": str(secret), "orig_name": "cat.png"}, "/etc/passwd",
                  {"image": {"path": "/etc/hostname"}}):
        with pytest.raises(InvalidRequest, match="was not uploaded here"):
            service.validate({"prompt": "p", "image_input": [named]}, 1, NANO)
    assert emulator.count("POST", "/v1/files") == 0


# --- sent once per image per click, in parallel ------------------------------------------------------


async def test_each_image_is_uploaded_once_per_click_and_its_url_is_the_input(service, emulator, uploads):
    red, blue = put(uploads, "red.png", png((255, 0, 0))), put(uploads, "blue.png", png((0, 0, 255)))
    inputs, n = await service.avalidate({"prompt": "both", "image_input": [red, {"path": blue}], "resolution": "1K"},
                                        3, NANO)
    snapshots = await finish(service.generate(inputs, n, model=NANO))
    first = snapshots[0].slots
    assert all(s.status == "uploading" and s.uploads == 2 for s in first)
    assert snapshots[-1].done and all(s.status == "succeeded" for s in snapshots[-1].slots)
    assert emulator.count("POST", "/v1/files") == 2  # not 6: once per image, shared by the 3 predictions
    by_content = {emulator.file_bytes(f["id"]): f["urls"]["get"] for f in emulator.files()}
    urls = [by_content[Path(red).read_bytes()], by_content[Path(blue).read_bytes()]]  # in the order given
    predictions = emulator.predictions()
    assert len(predictions) == 3 and all(p["input"]["image_input"] == urls for p in predictions)
    uploads_seen = [r for r in emulator.requests if r.path == "/v1/files"]
    assert all(r.headers["authorization"] == "Bearer r8_host" for r in uploads_seen)
    assert all(b"red.png" not in r.body and b"blue.png" not in r.body for r in uploads_seen)  # neutral names


async def test_a_visitors_own_token_pays_for_the_uploads_too(service, emulator, uploads):
    inputs, n = service.validate({"prompt": "mine", "image_input": [put(uploads, "a.png", png())]}, 1, NANO)
    await finish(service.generate(inputs, n, model=NANO, visitor=Visitor(owner="v1", token="r8_visitor")))
    [upload] = [r for r in emulator.requests if r.path == "/v1/files"]
    [create] = [r for r in emulator.requests if r.path.endswith("/predictions")]
    assert upload.headers["authorization"] == create.headers["authorization"] == "Bearer r8_visitor"


async def test_a_failed_upload_falls_back_to_a_data_uri_only_for_small_files(service, emulator, uploads):
    emulator.inject_fault("POST", "/v1/files", 500, times=20)
    small = put(uploads, "small.png", png())
    inputs, n = service.validate({"prompt": "small", "input_image": small}, 1, KONTEXT)
    [*_, last] = await finish(service.generate(inputs, n, model=KONTEXT))
    assert last.slots[0].status == "succeeded"
    [prediction] = emulator.predictions()
    assert prediction["input"]["input_image"].startswith("data:image/png;base64,")

    large = put(uploads, "large.png", png(noise=True, size=(400, 400)))  # ~480 KB of noise
    assert Path(large).stat().st_size > 256 * 1024
    inputs, n = service.validate({"prompt": "large", "input_image": large}, 2, KONTEXT)
    [*_, last] = await finish(service.generate(inputs, n, model=KONTEXT))
    assert [s.status for s in last.slots] == ["failed", "failed"]
    assert "large.png could not be uploaded to Replicate" in last.slots[0].message
    assert len(emulator.predictions()) == 1  # nothing more was created
    # Kept while it was being sent, let go when nothing was made from it; the small one stays.
    digest = hashlib.sha256(Path(large).read_bytes()).hexdigest()
    inputs_dir = service.history.input_images.dir
    await wait_until_async(lambda: not (inputs_dir / digest[:2] / f"{digest}.png").exists())
    assert len(list(inputs_dir.rglob("*.png"))) == 1


# --- kept in the history -----------------------------------------------------------------------------


async def test_history_keeps_the_input_images_and_reuse_restores_them(service, emulator, uploads):
    red, blue = png((255, 0, 0)), png((0, 0, 255))
    inputs, n = service.validate({"prompt": "keep them", "image_input": [put(uploads, "r.png", red),
                                                                       put(uploads, "b.png", blue)]}, 1, NANO)
    await finish(service.generate(inputs, n, model=NANO))
    [entry] = service.history.page(everyone=True)
    names = entry.inputs["image_input"]
    assert [Path(p).read_bytes() for p in service.input_image_paths(entry.inputs)] == [red, blue]
    assert all(n.startswith("inputs/") for n in names)
    embedded = parameters_of(entry.path.read_bytes())
    assert embedded["inputs"]["image_input"] == names  # the image file itself names them
    # Reuse on the same model gives the files back; on another model, in its own image input.
    assert [Path(p).read_bytes() for p in service.form_values(entry.inputs, NANO)["image_input"]] == [red, blue]
    assert len(service.form_values(entry.inputs, FLUX2)["input_images"]) == 2
    assert Path(service.form_values(entry.inputs, KONTEXT)["input_image"]).read_bytes() == red  # takes one
    # Uploaded files expire at Replicate within hours; the kept ones are what a second run sends.
    for stored in emulator.files():
        emulator.delete_file(stored["id"])
    again, n = service.validate(service.form_values(entry.inputs, NANO), 1, NANO)
    await finish(service.generate(again, n, model=NANO))
    assert len(service.history.page(everyone=True)) == 2 and emulator.count("POST", "/v1/files") == 4


async def test_deleting_an_entry_removes_input_images_no_other_entry_uses(service, uploads):
    shared, own = put(uploads, "s.png", png((1, 1, 1))), put(uploads, "o.png", png((2, 2, 2)))
    for images in ([shared], [shared, own]):
        inputs, n = service.validate({"prompt": "p", "image_input": images}, 1, NANO)
        await finish(service.generate(inputs, n, model=NANO))
    newer, older = service.history.page(everyone=True)
    kept = service.input_image_paths(newer.inputs)
    assert len(kept) == 2
    service.history.delete(newer.id, everyone=True)
    assert kept[0].exists() and not kept[1].exists()  # the shared one stays for the older entry
    service.history.delete(older.id, everyone=True)
    assert not kept[0].exists()


# --- models Replicate no longer serves -----------------------------------------------------------------


async def test_a_model_withdrawn_while_running_is_put_aside_after_one_click(service, emulator):
    assert service.default_model == "google/imagen-4-fast" and service.retirement_notice() is None
    emulator.retire("google/imagen-4-fast")
    inputs, n = service.validate({"prompt": "p"}, 1)
    [*_, last] = await finish(service.generate(inputs, n))
    assert last.slots[0].status == "failed" and "no model google/imagen-4-fast" in last.slots[0].message
    entry = service.catalog["google/imagen-4-fast"]
    assert entry.retired and not entry.usable and entry.schema is not None  # history can still show it
    assert service.default_model == NANO
    notice = service.retirement_notice()
    assert "google/imagen-4-fast is no longer available" in notice and NANO in notice
    creates = emulator.count("POST", "/v1/models/")
    with pytest.raises(InvalidRequest, match="no model google/imagen-4-fast"):
        service.validate({"prompt": "p"}, 1, "google/imagen-4-fast")
    assert emulator.count("POST", "/v1/models/") == creates  # refused here, not sent again
    assert service.usable_model("google/imagen-4-fast") == NANO


async def test_a_prediction_failing_at_once_with_model_not_found_retires_it(service, emulator):
    emulator.inject_fault("POST", "/v1/models/google/imagen-4-fast/predictions", "gone")
    inputs, n = service.validate({"prompt": "p"}, 1)
    [*_, last] = await finish(service.generate(inputs, n))
    assert "is not found for API version" in last.slots[0].message
    assert service.catalog["google/imagen-4-fast"].retired and service.default_model == NANO


async def test_an_input_link_that_404s_does_not_retire_the_model(service, emulator):
    inputs, n = service.validate({"prompt": "p", "image_input": ["http://127.0.0.1:9/gone.png"]}, 1, NANO)
    [*_, last] = await finish(service.generate(inputs, n, model=NANO))
    assert last.slots[0].status == "failed" and "Failed to download" in last.slots[0].message
    assert service.catalog[NANO].usable
