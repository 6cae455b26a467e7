"""History: files and index on disk, across restarts, crashes and 10,000 entries."""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from imagen_ui.store import metadata
from imagen_ui.store.history import Entry, History, ReconcileReport

REPO = Path(__file__).resolve().parents[1]
MODEL = "google/imagen-4-fast"
T0 = datetime(2026, 11, 26, 5, 12, 33, tzinfo=timezone.utc)


def tiny_image(fmt: str = "png", color: tuple[int, int, int] = (200, 30, 30), size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[fmt])
    return buffer.getvalue()


def inputs_for(prompt: str, fmt: str = "png", aspect_ratio: str = "1:1") -> dict:
    return {"prompt": prompt, "aspect_ratio": aspect_ratio, "output_format": fmt,
            "safety_filter_level": "block_only_high"}


def add(history: History, n: int, *, prompt: str | None = None, fmt: str = "png", owner: str | None = None,
        created: datetime | None = None) -> Entry:
    prompt = prompt if prompt is not None else f"prompt number {n}"
    return history.add(data=tiny_image(fmt, (n % 256, 40, 90)), fmt=fmt, prediction_id=f"pred{n:06d}",
                       model=MODEL, inputs=inputs_for(prompt, fmt), created_at=created or T0 + timedelta(seconds=n),
                       predict_time=1.25 + n, width=8, height=8, owner=owner)


def image_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "images").rglob("*") if p.is_file())


@pytest.fixture
def history(tmp_path):
    with History(tmp_path / "outputs") as opened:
        yield opened


# --- adding and reopening ---------------------------------------------------------------------


def test_add_writes_a_file_with_parameters_and_survives_restart(tmp_path):
    root = tmp_path / "outputs"
    with History(root) as history:
        png = history.add(data=tiny_image("png"), fmt="png", prediction_id="kr2d2jhqbsrj60cjb2vtmekgh4",
                          model=MODEL, inputs=inputs_for("A red fox in snow", "png", "16:9"),
                          created_at="2026-11-26T05:12:33.5Z", predict_time=2.5, width=8, height=8)
        jpg = add(history, 7, prompt="Ein Fuchs ☃\nzweite Zeile", fmt="jpg")

    assert png.path == root / "images/2026-11" / (
        "imagen-4-fast_20261126-051233_a-red-fox-in-snow_kr2d2jhqbsrj60cjb2vtmekgh4.png")
    assert png.created_at == "2026-11-26T05:12:33.500000Z"
    assert png.inputs == inputs_for("A red fox in snow", "png", "16:9")
    for entry in (png, jpg):
        data = entry.path.read_bytes()
        assert entry.byte_size == len(data)
        Image.open(entry.path).load()
        prompt, params = metadata.parse_infotext(metadata.read(data))
        assert prompt == entry.prompt
        assert list(params) == ["Model", "Aspect ratio", "Output format", "Safety filter level", "Size",
                                "Prediction", "Created", "Predict time"]
        assert params["Prediction"] == entry.prediction_id and params["Size"] == "8x8"
    assert Image.open(png.path).info["parameters"].startswith("A red fox in snow\nModel: google/imagen-4-fast")

    with History(root) as reopened:
        assert reopened.last_reconcile.repairs == (0, 0, 0, 0)
        assert reopened.page(everyone=True) == [jpg, png]
        assert reopened.get(png.id) == png
        assert reopened.get_by_prediction(jpg.prediction_id) == jpg
        assert reopened.get(10**6) is None and reopened.get_by_prediction("no-such-prediction") is None


def test_add_is_idempotent_per_prediction(history):
    first = add(history, 1)
    again = history.add(data=tiny_image("jpg"), fmt="jpg", prediction_id=first.prediction_id, model=MODEL,
                        inputs=inputs_for("something else"), created_at=T0 + timedelta(days=40),
                        predict_time=None, width=8, height=8)
    assert again == first
    assert history.count() == 1 and image_files(history.root) == [first.path]


def test_concurrent_adds_from_threads(history):
    def work(worker: int) -> None:
        for n in range(25):
            add(history, worker * 100 + n)
            add(history, n)  # every worker races for the same 25 predictions too

    threads = [threading.Thread(target=work, args=(w,)) for w in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert history.count() == 6 * 25 + 25
    assert len(image_files(history.root)) == history.count()  # losers of a race left no file


def test_file_names_say_what_they_are_and_stay_inside_the_history(history):
    long_prompt = "Ünïcödé café — a VERY long prompt, with punctuation!!! and more words than forty characters"
    entry = add(history, 3, prompt=long_prompt, fmt="jpg")
    model, stamp, slug, prediction = entry.path.stem.split("_")
    assert (model, stamp, prediction) == ("imagen-4-fast", "20261126-051236", "pred000003")
    assert slug == "unicode-cafe-a-very-long-prompt-with-pun" and len(slug) <= 40
    assert entry.path.suffix == ".jpg" and entry.format == "jpg"

    assert add(history, 4, prompt="雪").path.name.split("_")[2] == "image"  # nothing ASCII: a placeholder
    hostile = history.add(data=tiny_image(), fmt="png", prediction_id="../../escape/me", model="evil/../../x",
                          inputs={"prompt": "p"}, created_at=T0, predict_time=None, width=8, height=8)
    assert hostile.path.parent == history.root / "images" / "2026-11"
    assert "/" not in hostile.path.name and ".." not in hostile.path.name.split("_")[-1]


def test_created_at_is_stored_as_utc(history):
    local = datetime(2026, 11, 26, 7, 12, 33, tzinfo=timezone(timedelta(hours=2)))
    assert add(history, 1, created=local).created_at == "2026-11-26T05:12:33.000000Z"
    naive = history.add(data=tiny_image(), fmt="png", prediction_id="naive", model=MODEL, inputs={"prompt": "p"},
                        created_at=datetime(2026, 1, 2, 3, 4, 5), predict_time=None, width=8, height=8)
    assert naive.created_at == "2026-01-02T03:04:05.000000Z" and "/2026-01/" in naive.path.as_posix()


def test_declared_format_is_corrected_and_garbage_is_refused(history):
    entry = history.add(data=tiny_image("jpg"), fmt="png", prediction_id="mislabelled", model=MODEL,
                        inputs={"prompt": "p"}, created_at=T0, predict_time=None, width=8, height=8)
    assert entry.format == "jpg" and entry.path.suffix == ".jpg"
    with pytest.raises(ValueError):
        history.add(data=b"<html>error</html>", fmt="png", prediction_id="bad", model=MODEL,
                    inputs={"prompt": "p"}, created_at=T0, predict_time=None, width=8, height=8)
    with pytest.raises(ValueError):
        history.add(data=tiny_image("png")[:40], fmt="png", prediction_id="cut", model=MODEL,
                    inputs={"prompt": "p"}, created_at=T0, predict_time=None, width=8, height=8)
    assert history.count() == 1 and image_files(history.root) == [entry.path]


def test_webp_is_stored_with_parameters_reopened_and_reindexed(tmp_path):
    root = tmp_path / "outputs"
    source = tiny_image("webp", size=9)  # a simple lossy WebP, as flux-schnell returns by default
    with History(root) as history:
        entry = history.add(data=source, fmt="png", prediction_id="flux1", model="black-forest-labs/flux-schnell",
                            inputs=inputs_for("a fox ☃", "webp"), created_at=T0, predict_time=0.7, width=9, height=9)
    assert entry.format == "webp" and entry.path.suffix == ".webp"  # sniffed, whatever was declared
    data = entry.path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP" and entry.byte_size == len(data)
    vp8 = source[12:]  # the bitstream chunk, copied byte for byte after the new VP8X header
    assert source[12:16] == b"VP8 " and data[30 : 30 + len(vp8)] == vp8
    with Image.open(entry.path) as image:
        assert image.tobytes() == Image.open(io.BytesIO(source)).tobytes()
        comment = image.getexif().get_ifd(0x8769)[0x9286]
    assert comment[8:].decode("utf-16-be") == metadata.read(data)
    prompt, params = metadata.parse_infotext(metadata.read(data))
    assert prompt == "a fox ☃" and params["Prediction"] == "flux1" and params["Output format"] == "webp"

    with History(root) as reopened:
        assert reopened.last_reconcile.repairs == (0, 0, 0, 0) and reopened.get(entry.id) == entry
        assert reopened.get_by_prediction(entry.prediction_id) == entry
    with sqlite3.connect(root / "history.sqlite3") as db:  # as if the process died before its row
        db.execute("DELETE FROM entries")
    with History(root) as reconciled:
        assert reconciled.last_reconcile.repairs == (0, 1, 0, 0)  # the .webp file was listed and read
        restored = reconciled.get_by_prediction("flux1")
        assert restored == Entry(**{**entry.__dict__, "id": restored.id})  # format "webp" and every field


def test_a_prompt_too_long_for_jpeg_exif_still_saves_the_image(history):
    entry = add(history, 1, prompt="fox " * 10_000, fmt="jpg")
    assert entry.path.read_bytes() == tiny_image("jpg", (1, 40, 90))  # unchanged, no EXIF
    assert history.get(entry.id).prompt == "fox " * 10_000


# --- owners and deleting ----------------------------------------------------------------------


def test_owners_never_see_each_other(history):
    alice = [add(history, n, owner="alice") for n in range(3)]
    bob = [add(history, n, owner="bob") for n in range(10, 13)]
    local = [add(history, n) for n in range(20, 22)]

    assert history.page(owner="alice") == alice[::-1]
    assert history.page(owner="bob") == bob[::-1]
    assert history.page() == local[::-1]  # owner None: a local run's own entries only
    assert history.count(owner="alice") == 3 and history.count(owner="carol") == 0
    assert history.page(everyone=True) == sorted(alice + bob + local, key=lambda e: e.created_at, reverse=True)
    assert history.count(everyone=True) == 8
    assert history.page(owner="alice", query="number 1") == [alice[1]]
    assert history.page(owner="bob", query="number 1") == bob[::-1]
    assert "alice" not in alice[0].path.as_posix()  # folders are keyed by a hash, not the visitor id


def test_tally_counts_per_model_and_priced_input_for_one_owner(history):
    for n in range(3):
        add(history, n, owner="alice")
    add(history, 3, owner="bob")
    history.add(data=tiny_image(), fmt="png", prediction_id="pro000001", model="google/nano-banana-pro",
                inputs={"prompt": "big", "resolution": "4K"}, created_at=T0, predict_time=1.0, width=8,
                height=8, owner="alice")
    assert sorted(history.tally(owner="alice", by="resolution"), key=str) == sorted(
        [(MODEL, None, 3), ("google/nano-banana-pro", "4K", 1)], key=str)
    assert history.tally(owner="bob") == [(MODEL, None, 1)]
    assert history.tally(owner="alice", query="big", by="resolution") == [("google/nano-banana-pro", "4K", 1)]
    assert history.tally(owner="carol") == []


def test_delete_only_what_the_owner_may(history):
    alice, bob, local = add(history, 1, owner="alice"), add(history, 2, owner="bob"), add(history, 3)

    assert history.delete(alice.id, owner="bob") is False
    assert history.delete(alice.id) is False  # owner None is not everyone
    assert alice.path.exists() and history.get(alice.id) == alice

    assert history.delete(alice.id, owner="alice") is True
    assert not alice.path.exists() and history.get(alice.id) is None
    assert history.delete(alice.id, owner="alice") is False

    assert history.delete(bob.id, everyone=True) is True and not bob.path.exists()
    assert history.delete(local.id) is True and not local.path.exists()
    assert history.count(everyone=True) == 0 and image_files(history.root) == []


# --- reconcile --------------------------------------------------------------------------------


def test_reconcile_repairs_index_and_files(tmp_path):
    root = tmp_path / "outputs"
    with History(root) as history:
        kept = add(history, 1, prompt="kept")
        lost = add(history, 2, prompt="file deleted by hand")
        visitor = add(history, 3, prompt="a visitor's, with: punctuation\nand two lines", fmt="jpg", owner="v-42")
        copied = add(history, 4, prompt="copied")
    lost.path.unlink()
    with sqlite3.connect(root / "history.sqlite3") as db:  # as if the process died before its row
        db.execute("DELETE FROM entries WHERE prediction_id = ?", (visitor.prediction_id,))
    (root / "images/2026-11/.tmp-1a2b3c-half-written.png").write_bytes(tiny_image()[:30])
    (root / "images/2026-11/not-ours.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    (root / "images/2026-11/copy-of-copied.png").write_bytes(copied.path.read_bytes())
    (root / "images/2026-11/notes.txt").write_text("left alone")

    with History(root) as history:
        assert history.last_reconcile.repairs == (1, 1, 2, 1)  # removed, reindexed, orphaned, temp
        assert history.get_by_prediction(lost.prediction_id) is None
        restored = history.get_by_prediction(visitor.prediction_id)
        assert restored == Entry(**{**visitor.__dict__, "id": restored.id})  # every field, owner too
        assert history.get(kept.id) == kept
        assert sorted(p.name for p in (root / "orphans").iterdir()) == ["copy-of-copied.png", "not-ours.png"]
        assert not list(root.rglob(".tmp-*"))
        assert (root / "images/2026-11/notes.txt").exists()
        assert history.reconcile().repairs == (0, 0, 0, 0)


def test_reconcile_does_not_read_indexed_files(tmp_path):
    root = tmp_path / "outputs"
    with History(root) as history:
        entry = add(history, 1)
    entry.path.write_bytes(b"not an image any more")  # would be orphaned if reconcile read it
    with History(root) as history:
        assert history.last_reconcile.repairs == (0, 0, 0, 0) and history.get(entry.id) == entry


def age_folders(root: Path, seconds: float = 3600) -> None:
    """Set every folder's mtime back, as if the last change was long ago (instead of waiting)."""
    past = time.time() - seconds
    for folder in [root / "images", *(p for p in (root / "images").rglob("*") if p.is_dir())]:
        os.utime(folder, (past, past))


def test_reconcile_skips_unchanged_folders_and_lists_changed_ones(tmp_path):
    root = tmp_path / "outputs"
    with History(root) as history:
        november = [add(history, n) for n in range(3)]
        december = add(history, 4, created=datetime(2026, 12, 1, tzinfo=timezone.utc), owner="alice")
        assert history.reconcile().folders_listed == 4  # just changed: not trusted yet
    with History(root) as history:
        assert history.last_reconcile.folders_listed == 4  # changed within the last 2 s: listed again
    age_folders(root)
    with History(root) as history:
        assert history.last_reconcile.folders_listed == 4  # now settled: recorded
    with History(root) as history:
        assert history.last_reconcile == ReconcileReport()  # nothing changed: nothing listed

    november[0].path.unlink()  # by hand, in an unchanged folder
    (root / "images/v-extra").mkdir()
    shutil.copy(november[1].path, root / "images/v-extra/stray.png")  # same prediction: orphaned
    with History(root) as history:
        assert history.last_reconcile.repairs == (1, 0, 1, 0)
        assert history.last_reconcile.folders_listed == 3  # images/, 2026-11, v-extra
        assert history.get(november[0].id) is None and history.get(december.id) == december

    age_folders(root)
    History(root).close()  # records every folder as settled
    stamps = {folder: folder.stat().st_mtime_ns for folder in (november[1].path.parent, december.path.parent)}
    with History(root) as history:
        assert history.last_reconcile == ReconcileReport()
        history.add(data=tiny_image(), fmt="png", prediction_id="new", model=MODEL, inputs={"prompt": "p"},
                    created_at=T0, predict_time=None, width=8, height=8)
        assert history.delete(december.id, owner="alice")
    for folder, mtime_ns in stamps.items():  # now the mtimes lie: the index still knows what changed
        os.utime(folder, ns=(mtime_ns, mtime_ns))
    with History(root) as history:
        assert history.last_reconcile.folders_listed == 2
        assert history.last_reconcile.repairs == (0, 0, 0, 0)
        assert history.count() == 3 and history.count(owner="alice") == 0

    shutil.rmtree(root / "images/2026-11")  # a whole folder deleted by hand
    with History(root) as history:
        assert history.last_reconcile.removed_rows == 3 and history.count(everyone=True) == 0


# --- 10,000 entries ---------------------------------------------------------------------------

SCALE = 10_000


@pytest.fixture(scope="module")
def big_history(tmp_path_factory):
    """10,000 entries, written as files with embedded parameters and indexed by History itself
    (reconcile), in shuffled time order so ids and time disagree."""
    root = tmp_path_factory.mktemp("big") / "outputs"
    base = tiny_image()
    order = list(range(SCALE))
    random.Random(7).shuffle(order)
    for n in order:
        created = (T0 + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        prompt = f"fox number {n}" if n % 7 == 0 else f"cat number {n}"
        if n % 1000 == 5:
            prompt += " 50%_off"
        params = {"Model": MODEL, "Aspect ratio": "1:1", "Output format": "png",
                  "Safety filter level": "block_only_high",
                  "Size": "8x8", "Prediction": f"p{n:05d}", "Created": created, "Predict time": 1.0}
        folder = root / "images" / created[:7]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"imagen-4-fast_{n:05d}_p{n:05d}.png").write_bytes(
            metadata.embed(base, "png", metadata.format_infotext(prompt, params)))
    history = History(root)
    assert history.last_reconcile.reindexed == SCALE
    yield history
    history.close()


def numbers(entries: list[Entry]) -> list[int]:
    return [int(entry.prediction_id[1:]) for entry in entries]


def test_scale_pages_are_newest_first_and_complete(big_history):
    assert big_history.count(everyone=True) == big_history.count() == SCALE
    assert numbers(big_history.page(everyone=True)) == list(range(SCALE - 1, SCALE - 25, -1))
    walked = []
    for offset in range(0, SCALE, 1000):
        walked += numbers(big_history.page(everyone=True, offset=offset, limit=1000))
    assert walked == list(range(SCALE - 1, -1, -1))
    assert numbers(big_history.page(offset=24 * 300, limit=24)) == walked[24 * 300 : 24 * 301]
    assert big_history.page(offset=SCALE, limit=24) == []


def test_scale_search_is_a_case_insensitive_literal_substring(big_history):
    foxes = [n for n in range(SCALE - 1, -1, -1) if n % 7 == 0]
    assert big_history.count(query="FOX") == len(foxes)
    assert numbers(big_history.page(query="  Fox ", limit=50)) == foxes[:50]
    assert numbers(big_history.page(query="fox", offset=50, limit=50)) == foxes[50:100]
    # LIKE wildcards are plain characters here
    with_percent = [n for n in range(SCALE - 1, -1, -1) if n % 1000 == 5]
    assert numbers(big_history.page(query="%", limit=100)) == with_percent
    assert numbers(big_history.page(query="_", limit=100)) == with_percent
    assert big_history.count(query="number 9999") == 1
    assert big_history.count(query="dog") == 0


def test_scale_first_page_reads_an_index_not_a_sort(big_history):
    """The SQL page() runs walks an index in order (O(limit)), it does not sort all rows."""
    executed = []
    big_history._conn.set_trace_callback(executed.append)
    try:
        for kwargs in ({"everyone": True}, {"owner": None}, {"owner": "alice"}, {"everyone": True, "query": "fox"}):
            executed.clear()
            big_history.page(**kwargs)
            plan = " ".join(str(row) for row in big_history._conn.execute("EXPLAIN QUERY PLAN " + executed[-1]))
            assert "TEMP B-TREE" not in plan and "INDEX" in plan, (kwargs, plan)
    finally:
        big_history._conn.set_trace_callback(None)


def test_scale_reopen_is_quick_and_finds_nothing_to_repair(big_history):
    started = time.perf_counter()
    with History(big_history.root) as reopened:
        first_page = reopened.page(everyone=True)
    elapsed = time.perf_counter() - started
    assert reopened.last_reconcile.repairs == (0, 0, 0, 0) and len(first_page) == 24
    assert elapsed < 1.0, elapsed  # generous for slow CI; benchmarks/history_scale.py measures it
    age_folders(big_history.root)
    History(big_history.root).close()  # records the settled folders
    with History(big_history.root) as reopened:
        assert reopened.last_reconcile == ReconcileReport()  # no folder listed, no image read


# --- crash safety -----------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import io, itertools, sys, threading
    from datetime import datetime, timezone
    from PIL import Image
    from imagen_ui.store.history import History

    history = History(sys.argv[1])
    round_no = int(sys.argv[2])
    lock = threading.Lock()

    def image(fmt, n):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (n % 256, 90, 160)).save(buffer, "PNG" if fmt == "png" else "JPEG")
        return buffer.getvalue()

    def writer(worker):
        for n in itertools.count():
            fmt = "png" if n % 2 else "jpg"
            pid = f"r{round_no}w{worker}n{n}"
            history.add(data=image(fmt, n), fmt=fmt, prediction_id=pid, model="google/imagen-4-fast",
                        inputs={"prompt": f"crash test {pid}", "output_format": fmt},
                        created_at=datetime.now(timezone.utc), predict_time=0.5, width=64, height=64,
                        owner=None if worker == 0 else f"visitor{worker}")
            with lock:
                print(pid, flush=True)  # acknowledged: add() returned

    print("ready", flush=True)
    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
""")


def check_visible_state_after_kill(root: Path) -> None:
    """Before any repair: every committed row already has its complete file, and no file at a
    final name is partial (those would be orphaned by reconcile and hide the bug)."""
    with sqlite3.connect(f"file:{root / 'history.sqlite3'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT path, prediction_id FROM entries").fetchall()
    for rel_path, prediction_id in rows:
        data = (root / rel_path).read_bytes()
        Image.open(io.BytesIO(data)).load()
        assert metadata.parse_infotext(metadata.read(data))[1]["Prediction"] == prediction_id
    for path in image_files(root):
        if not path.name.startswith(".tmp-"):
            Image.open(path).load()


def check_consistent(root: Path, acknowledged: set[str]) -> None:
    check_visible_state_after_kill(root)
    with History(root) as history:
        assert history.last_reconcile.orphaned == 0
        total = history.count(everyone=True)
        entries = history.page(everyone=True, limit=total)
        by_path = {entry.path: entry for entry in entries}
        files = image_files(root)
        assert sorted(by_path) == files  # every row has its file, every file has its row
        for entry in entries:
            data = entry.path.read_bytes()
            Image.open(io.BytesIO(data)).load()  # complete, decodable
            assert metadata.parse_infotext(metadata.read(data))[1]["Prediction"] == entry.prediction_id
            assert entry.byte_size == len(data)
        assert acknowledged <= {entry.prediction_id for entry in entries}  # nothing added was lost
        assert not list(root.rglob(".tmp-*"))


@pytest.mark.timeout(60)
def test_sigkill_at_random_moments_loses_nothing_and_leaves_nothing_half_written(tmp_path):
    root = tmp_path / "outputs"
    rng = random.Random()
    acknowledged: set[str] = set()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for round_no in range(6):
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(round_no)],
                                   stdout=subprocess.PIPE, text=True, env=env)
        assert process.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.02, 0.3))  # the test's input: a random moment of the writing to kill at
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate()
        assert process.returncode == -signal.SIGKILL
        acknowledged |= set(output.split())
        check_consistent(root, acknowledged)
    assert not (root / "orphans").exists()
    assert len(acknowledged) > 20  # the kills did land while entries were being added
