"""Previews of stored images: made when stored, small, without parameters, rebuilt, deleted, reconciled."""

from __future__ import annotations

import io
import os
import tracemalloc
from datetime import datetime, timezone

import pytest
from PIL import Image

from imagen_ui.emulator import photo
from imagen_ui.emulator.images import ImageSpec
from imagen_ui.store import metadata
from imagen_ui.store.history import History
from imagen_ui.store.previews import GALLERY, KINDS, TILE

T0 = datetime(2026, 11, 26, 5, 12, 33, tzinfo=timezone.utc)


def photo_bytes(fmt: str = "png", aspect_ratio: str = "16:9", prompt: str = "a fox") -> tuple[bytes, tuple[int, int]]:
    spec = ImageSpec.from_inputs("google/imagen-4-fast", {"prompt": prompt, "aspect_ratio": aspect_ratio,
                                                          "output_format": fmt})
    return photo.render(spec).data, spec.size


def store(history: History, n: int, fmt: str = "png", aspect_ratio: str = "16:9"):
    data, (width, height) = photo_bytes(fmt, aspect_ratio, prompt=f"fox {n}")
    entry = history.add(data=data, fmt=fmt, prediction_id=f"pred{n:04d}", model="google/imagen-4-fast",
                        inputs={"prompt": f"fox {n}", "output_format": fmt, "aspect_ratio": aspect_ratio},
                        created_at=T0, predict_time=1.0, width=width, height=height)
    return entry, data


@pytest.fixture
def history(tmp_path):
    with History(tmp_path / "outputs") as opened:
        yield opened


@pytest.mark.parametrize("fmt,aspect_ratio", [("png", "16:9"), ("jpg", "9:16")])
def test_storing_an_image_makes_its_previews_beside_the_history(history, fmt, aspect_ratio):
    entry, data = store(history, 1, fmt, aspect_ratio)
    for kind, side in KINDS.items():
        path = history.root / "previews" / entry.path.parent.name / f"{entry.path.name}.{side}.webp"
        assert path.is_file()
        assert history.preview(entry.path, kind) == path
        with Image.open(path) as preview:
            assert preview.format == "WEBP" and max(preview.size) == side
            ratio = entry.width / entry.height
            assert abs(preview.size[0] / preview.size[1] - ratio) < 0.01  # the same picture, only smaller
        assert metadata.read(path.read_bytes()) is None  # previews carry no parameters
    gallery = history.preview(entry.path, GALLERY).stat().st_size
    tile = history.preview(entry.path, TILE).stat().st_size
    assert tile < gallery < entry.byte_size / 3
    assert entry.path.read_bytes() != data and metadata.read(entry.path.read_bytes())  # the original keeps them


def test_a_png_preview_is_a_few_percent_of_a_photo_sized_original(history):
    entry, _ = store(history, 1, "png")
    assert history.preview(entry.path, GALLERY).stat().st_size < 0.06 * entry.byte_size
    assert history.preview(entry.path, TILE).stat().st_size < 0.01 * entry.byte_size


def test_a_missing_preview_is_made_again_and_a_deleted_image_takes_its_previews(history):
    entry, _ = store(history, 1)
    gallery, tile = history.preview(entry.path, GALLERY), history.preview(entry.path, TILE)
    first = gallery.read_bytes()
    gallery.unlink()
    tile.write_bytes(b"")  # cut short by a power cut: previews are not fsynced
    assert history.preview(entry.path, GALLERY).read_bytes() == first  # rebuilt from the original, same bytes
    assert history.preview(entry.path, TILE).stat().st_size > 0
    assert history.delete(entry.id)
    assert not gallery.exists() and not tile.exists()


def test_only_the_historys_own_images_have_previews(history, tmp_path):
    entry, _ = store(history, 1)
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(entry.path.read_bytes())
    assert history.preview(outside) is None
    assert history.preview(history.root / "history.sqlite3") is None
    assert history.preview(history.root / "images" / ".." / "history.sqlite3") is None
    assert history.preview(entry.path.with_name("missing.png")) is None
    with pytest.raises(KeyError):
        history.preview(entry.path, "huge")


def test_reconcile_drops_previews_of_images_gone_and_leftover_temp_files(tmp_path):
    root = tmp_path / "outputs"
    with History(root) as history:
        kept, _ = store(history, 1)
        gone, _ = store(history, 2)
    gone.path.unlink()  # deleted by hand while the app was stopped
    leftover = root / "previews" / gone.path.parent.name / ".tmp-abc123-x.png.1024.webp"
    leftover.write_bytes(b"half")
    os.utime(gone.path.parent, None)
    with History(root) as history:
        assert history.last_reconcile.removed_rows == 1
        assert history.last_reconcile.temp_files_removed == 1
        names = sorted(p.name for p in (root / "previews").rglob("*") if p.is_file())
        assert names == sorted(f"{kept.path.name}.{side}.webp" for side in KINDS.values())


def test_storing_does_not_copy_the_image_in_memory(history):
    data, (width, height) = photo_bytes("png", "16:9", prompt="memory")
    tracemalloc.start()
    try:
        history.add(data=data, fmt="png", prediction_id="mem", model="google/imagen-4-fast",
                    inputs={"prompt": "memory"}, created_at=T0, predict_time=1.0, width=width, height=height)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Python-level allocations only (Pillow's decoded pixels are not traced): the parameters and
    # the preview files' bytes, but no second copy of the 2.5 MB original.
    assert peak < len(data) / 4, f"peak {peak} bytes while storing {len(data)}"


def test_a_preview_can_be_made_of_every_stored_format(history):
    for n, fmt in enumerate(["png", "jpg", "webp"]):
        image = Image.new("RGBA" if fmt == "png" else "RGB", (1600, 900), (10, 120, 200, 128))
        buffer = io.BytesIO()
        image.save(buffer, {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[fmt])
        entry = history.add(data=buffer.getvalue(), fmt=fmt, prediction_id=f"f{n}", model="m",
                            inputs={"prompt": "p"}, created_at=T0, predict_time=None, width=1600, height=900)
        with Image.open(history.preview(entry.path, GALLERY)) as preview:
            assert preview.size == (1024, 576)


def test_a_lossy_original_of_about_preview_size_is_its_own_gallery_preview(history):
    entry, _ = store(history, 1, "jpg", "1:1")  # 1024x1024 JPEG: a 1024 px WebP would only re-encode it
    assert history.preview(entry.path, GALLERY) is None
    assert not list(history.previews_dir.rglob(f"*.{KINDS[GALLERY]}.webp"))  # and none is made on asking
    with Image.open(history.preview(entry.path, TILE)) as tile:
        assert tile.size == (384, 384)
    png, _ = store(history, 2, "png", "1:1")  # lossless: a preview saves nine tenths even at 1024 px
    assert history.preview(png.path, GALLERY).stat().st_size < png.byte_size / 5
