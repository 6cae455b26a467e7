"""BatchService against the emulator on loopback: rows land in History, cancel stops only what has
not finished, the zip holds the images as made plus a CSV, and limits are checked up front."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import time
import zipfile
from datetime import datetime

import pytest
from conftest import wait_until_async

from imagen_ui.public.quota import Quota
from imagen_ui.replicate.client import ReplicateClient
from imagen_ui.replicate.pacing import TokenBucket
from imagen_ui.schema import InvalidRequest
from imagen_ui.service.batch import BatchRefused, BatchService
from imagen_ui.service.catalog_loader import load_catalog
from imagen_ui.service.fair_share import FairQueue
from imagen_ui.service.generation import GenerationService, Visitor
from imagen_ui.store.history import History

pytestmark = pytest.mark.anyio
MODEL = "google/imagen-4-fast"
SETTINGS = {"aspect_ratio": "1:1", "output_format": "jpg", "safety_filter_level": "block_only_high"}
ALICE = Visitor(owner="alice", keys=("v:alice",))


@contextlib.asynccontextmanager
async def services(emulator, tmp_path, *, quota=None, parallel=4, budget=None):
    catalog = load_catalog((MODEL,), emulator.base_url, "test-token")
    history = History(tmp_path / "outputs")
    service = GenerationService(ReplicateClient("test-token", base_url=emulator.base_url), catalog, history,
                                quota=quota, visitor_api_base=emulator.base_url)
    batches = BatchService(service, parallel=parallel, budget=budget, archive_dir=tmp_path / "zips")
    try:
        yield service, batches
    finally:
        await service.aclose()
        history.close()


async def run_all(batches, batch, **kwargs):
    snapshots = [snapshot async for snapshot in batches.run(batch, **kwargs)]
    return snapshots[-1], snapshots


async def test_each_prompt_is_a_row_whose_images_land_in_history(emulator, tmp_path):
    async with services(emulator, tmp_path) as (service, batches):
        batch = batches.prepare(MODEL, SETTINGS, 2, text="a fox\n\nan owl\na heron")
        last, snapshots = await run_all(batches, batch, visitor=ALICE)
        assert last.done and [i.status for i in last.items] == ["succeeded"] * 3
        assert [i.line for i in last.items] == [1, 3, 4]
        assert len(snapshots) >= 2 and not snapshots[0].done  # rows land one by one
        entries = service.history.page(owner="alice", limit=100)
        assert sorted(e.prompt for e in entries) == sorted(["a fox", "a fox", "an owl", "an owl", "a heron", "a heron"])
        assert {e.path for e in entries} == set(last.paths)
        assert len(emulator.predictions()) == 6


async def test_cancel_stops_only_what_has_not_finished(emulator, tmp_path):
    # Longer than the create's sync window (at most 2 s), so a cancel finds them still running.
    emulator.set_latency(2.5)
    async with services(emulator, tmp_path, parallel=2) as (service, batches):
        batch = batches.prepare(MODEL, SETTINGS, 1, text="\n".join(f"prompt {i}" for i in range(6)))
        seen = []

        async def consume():
            async for snapshot in batches.run(batch, session="tab"):
                seen.append(snapshot)

        task = asyncio.create_task(consume())
        await wait_until_async(lambda: seen and seen[-1].count("succeeded") >= 2, timeout=20)
        await wait_until_async(lambda: len(emulator.predictions()) >= 4)  # the next two are in flight
        assert batches.cancel_session("tab") == 1
        with contextlib.suppress(asyncio.CancelledError):
            await task
        last = batches.last("tab")
        statuses = [item.status for item in last.items]
        succeeded = statuses.count("succeeded")
        assert succeeded >= 2 and set(statuses[succeeded:]) == {"canceled"}
        assert last.done
        in_flight = [item.prompt for item in last.items if item.status == "canceled"][:2]
        def by_status():
            return {p["input"]["prompt"]: p["status"] for p in emulator.predictions()}

        # Cancelled on Replicate too: the cancels go out once the creates answer.
        await wait_until_async(lambda: all(by_status().get(prompt) == "canceled" for prompt in in_flight),
                               timeout=8, message=lambda: f"{statuses} {by_status()}")
        assert len(by_status()) == 4  # the rest were never sent
        kept = service.history.page(everyone=True, limit=100)
        assert len(kept) == succeeded  # what finished stays


async def test_the_zip_has_every_image_as_made_and_a_csv_of_what_made_it(emulator, tmp_path):
    emulator.inject_fault("POST", "/v1/models", "e005")  # the first prompt's create fails E005
    async with services(emulator, tmp_path) as (service, batches):
        data = b"prompt,aspect_ratio\n=SUM(A1) first,16:9\nsecond,1:1\nthird,\n"
        batch = batches.prepare(MODEL, SETTINGS, 1, file_name="b.csv", file_data=data)
        last, _ = await run_all(batches, batch)
        path = batches.archive(last)
        with zipfile.ZipFile(path) as archive:
            rows = list(csv.DictReader(io.StringIO(archive.read("batch.csv").decode())))
            files = {row["file"]: archive.read(row["file"]) for row in rows if row["file"]}
        assert [row["line"] for row in rows] == ["2", "3", "4"]
        by_line = {row["line"]: row for row in rows}
        failed = [row for row in rows if row["status"] == "failed"]
        assert len(failed) == 1 and "safety" in failed[0]["message"].lower() and not failed[0]["file"]
        assert by_line["2"]["prompt"].startswith("'")  # no formula for a spreadsheet to run
        assert by_line["3"]["aspect_ratio"] == "1:1" and by_line["4"]["aspect_ratio"] == "1:1"
        for row in rows:
            if row["file"]:
                entry = service.history.get_by_prediction(row["prediction_id"])
                assert entry is not None and files[row["file"]] == entry.path.read_bytes()
                assert row["model"] == MODEL and row["output_format"] == "jpg"
        assert len(files) == 2


async def test_a_batch_larger_than_the_quota_is_refused_with_the_number_that_fits(emulator, tmp_path):
    quota = Quota(images_per_hour=10, concurrent=2)
    quota.reserve(("v:alice",), 3).release()  # 7 left this hour
    async with services(emulator, tmp_path, quota=quota) as (_, batches):
        batch = batches.prepare(MODEL, SETTINGS, 2, text="\n".join(f"p{i}" for i in range(5)))
        with pytest.raises(BatchRefused) as refused:
            await run_all(batches, batch, visitor=ALICE)
        assert refused.value.fits == 3
        assert "needs 10 images (2 per prompt), but only 7" in str(refused.value)
        assert "first 3 of its 5 prompts" in str(refused.value)
        assert emulator.predictions() == []
        # What fits runs, and counts against the hour; the visitor's own token lifts the limit.
        fitting = batches.prepare(MODEL, SETTINGS, 2, text="p0\np1\np2")
        await run_all(batches, fitting, visitor=ALICE)
        assert quota.remaining(("v:alice",)) == 1
        last, _ = await run_all(batches, batch, visitor=Visitor(owner="alice", keys=("v:alice",), token="own"))
        assert last.count("succeeded") == 5 and len(emulator.predictions()) == 16


async def test_a_cancelled_batch_refunds_only_prompts_never_sent(emulator, tmp_path):
    emulator.set_latency(0.5)
    quota = Quota(images_per_hour=50, concurrent=2)
    async with services(emulator, tmp_path, quota=quota, parallel=2) as (_, batches):
        batch = batches.prepare(MODEL, SETTINGS, 1, text="\n".join(f"p{i}" for i in range(10)))
        generation = batches.run(batch, visitor=ALICE)
        await anext(generation)
        await wait_until_async(lambda: len(emulator.predictions()) >= 1)
        await generation.aclose()
        sent = len(emulator.predictions())
        assert 1 <= sent <= 2
        # Settled once the closed batch has let go of its reservation: only the unsent are refunded.
        await wait_until_async(lambda: quota.remaining(("v:alice",)) == 50 - len(emulator.predictions()),
                               message=lambda: f"remaining {quota.remaining(('v:alice',))}, sent {sent}")


class Budget:
    def __init__(self, left):
        self.left = left

    def images_left(self, model):
        return self.left


async def test_the_host_budget_hook_refuses_a_batch_it_cannot_pay_for(emulator, tmp_path):
    async with services(emulator, tmp_path, budget=Budget(2)) as (_, batches):
        batch = batches.prepare(MODEL, SETTINGS, 1, text="a\nb\nc")
        with pytest.raises(BatchRefused) as refused:
            await run_all(batches, batch)
        assert refused.value.fits == 2 and emulator.predictions() == []


async def test_bad_lines_are_refused_before_anything_is_sent(emulator, tmp_path):
    async with services(emulator, tmp_path) as (_, batches):
        with pytest.raises(InvalidRequest) as refused:
            batches.prepare(MODEL, SETTINGS, 1, text="ok\n" + "x" * 5000)
        assert "Line 2:" in str(refused.value)
        with pytest.raises(InvalidRequest):
            batches.prepare(MODEL, SETTINGS, 9, text="ok")
        with pytest.raises(InvalidRequest):
            batches.prepare("someone/else", SETTINGS, 1, text="ok")
        assert emulator.requests == [] or all(r.method == "GET" for r in emulator.requests)


async def test_a_batch_of_200_keeps_the_create_pace_and_never_starves_another_visitor(make_emulator, tmp_path):
    emulator = make_emulator(latency=0.02)
    rate, burst = 100.0, 10  # a tight account limit, so the pacing is what decides the batch's speed
    async with services(emulator, tmp_path) as (service, batches):
        service._turns = FairQueue(service._turns.slots, TokenBucket(rate=rate, burst=burst))
        batch = batches.prepare(MODEL, SETTINGS, 1, text="\n".join(f"batch {i}" for i in range(200)))
        started = time.monotonic()
        running = asyncio.create_task(run_all(batches, batch, visitor=ALICE))
        await wait_until_async(lambda: len(emulator.predictions()) >= 20)  # the batch is under way
        asked = time.monotonic()
        inputs, count = service.validate({**SETTINGS, "prompt": "another visitor"}, 1)
        async for snapshot in service.generate(inputs, count, visitor=Visitor(owner="bob")):
            last = snapshot
        waited = time.monotonic() - asked
        (batch_last, _) = await running
        took = time.monotonic() - started
        assert last.slots[0].status == "succeeded" and batch_last.count("succeeded") == 200
        assert took >= (200 - burst) / rate * 0.95  # the batch went at the account's pace
        assert waited < 0.6, f"another visitor waited {waited:.2f} s behind a {took:.1f} s batch"
        # Nothing beyond the bucket: in any second, at most rate + burst creates.
        stamps = sorted(_seconds(p["created_at"]) for p in emulator.predictions())
        assert len(stamps) == 201
        window = 0
        for i, stamp in enumerate(stamps):
            while stamps[window] < stamp - 1.0:
                window += 1
            assert i - window + 1 <= rate + burst + 1
        assert emulator.count("POST") == 201  # no retries: nothing was refused with a 429


def _seconds(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
