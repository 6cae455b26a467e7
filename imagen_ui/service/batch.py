"""Batches: many prompts, one model and its settings, run through GenerationService.

A batch is checked whole before anything is sent (batch_input: every line against the schema; here:
the visitor's quota and the host's budget for all its images), then its prompts go a few at a time
(PARALLEL) through the service's one create pacing, so a batch of hundreds never trips the account's
create limit and another visitor's click waits behind at most a few of its creates, not all of them.
Cancelling the task that iterates `BatchService.run` stops what has not finished; finished images stay
in the history. `archive` packs a batch's images and a CSV of what made them into one zip.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import os
import tempfile
import time
import uuid
import zipfile
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from imagen_ui.public.budget import BudgetSpent
from imagen_ui.public.quota import UNLIMITED
from imagen_ui.schema import InvalidRequest
from imagen_ui.service import messages
from imagen_ui.service.batch_input import MAX_ROWS, BatchRow, parse_batch
from imagen_ui.service.generation import GenerationService, ImageSlot, Job, ShuttingDown, Visitor

PARALLEL = 4  # prompts of one batch in flight at once
MIN_UPDATE_SECONDS = 0.25  # a big batch's table is re-sent at most this often (endings included)
KEPT_ARCHIVES = 16  # zips kept on disk (oldest removed first); each is a copy of a batch's images

logger = logging.getLogger(__name__)


class BatchRefused(Exception):
    """A batch larger than what is left (quota, budget). `str()` is a person's message; `fits` is
    how many of its prompts would fit now."""

    def __init__(self, message: str, fits: int) -> None:
        super().__init__(message)
        self.fits = fits


class Budget(Protocol):
    """The host's spending guard (public mode), when the app has one: how many more images of a
    model its remaining budget pays for. A batch bigger than that is refused up front."""

    def images_left(self, model: str) -> int | None:
        """Images of `model` the budget still pays for; None when there is no limit."""


@dataclass(frozen=True)
class Batch:
    """A checked batch, ready to run: nothing has been sent for it yet."""

    model: str
    rows: tuple[BatchRow, ...]
    num_images: int  # per prompt
    id: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6])

    @property
    def total_images(self) -> int:
        return len(self.rows) * self.num_images


@dataclass(frozen=True)
class BatchItem:
    """One prompt of a running batch: its line, what is sent, and its images' slots once started."""

    line: int
    inputs: Mapping[str, Any]
    state: str = "queued"  # queued | running | done | canceled (never started)
    slots: tuple[ImageSlot, ...] = ()

    @property
    def prompt(self) -> str:
        return str(self.inputs.get("prompt", ""))

    @property
    def paths(self) -> list[Path]:
        return [path for slot in self.slots for path in slot.paths]

    @property
    def status(self) -> str:
        """queued | running | succeeded | partial (some images) | failed | canceled."""
        if self.state != "done":
            return self.state
        statuses = {slot.status for slot in self.slots}
        if statuses == {"succeeded"}:
            return "succeeded"
        if "succeeded" in statuses:
            return "partial"
        return "canceled" if statuses <= {"canceled"} else "failed"

    @property
    def message(self) -> str | None:
        return next((slot.message for slot in self.slots if slot.message), None)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "canceled")


@dataclass(frozen=True)
class BatchSnapshot:
    batch: Batch
    items: tuple[BatchItem, ...]

    @property
    def done(self) -> bool:
        return all(item.finished for item in self.items)

    @property
    def paths(self) -> list[Path]:
        return [path for item in self.items for path in item.paths]

    def count(self, *statuses: str) -> int:
        return sum(item.status in statuses for item in self.items)


class BatchService:
    """Checks and runs batches for every visitor of one app, through its GenerationService."""

    def __init__(self, service: GenerationService, *, parallel: int = PARALLEL, max_rows: int = MAX_ROWS,
                 budget: Budget | None = None, archive_dir: Path | None = None) -> None:
        self.service = service
        self.parallel = max(1, parallel)
        self.max_rows = max_rows
        # Hook for the host's budget (public mode): when the app has one, pass it here and a batch
        # bigger than it pays for is refused before anything is sent.
        self.budget = budget
        self._archive_dir = archive_dir
        self._runs: dict[str, set[asyncio.Task]] = defaultdict(set)
        self._last: dict[str, BatchSnapshot] = {}

    def prepare(self, model: str, settings: Mapping[str, Any], num_images: object, *,
                text: str | None = None, file_name: str | None = None,
                file_data: bytes | None = None) -> Batch:
        """A checked Batch, or InvalidRequest saying what to fix (by line number). Sends nothing."""
        entry = self.service.catalog.get(model)
        if entry is None or entry.schema is None:
            raise InvalidRequest.single("model", f"This app does not offer the model {model!r}.")
        if entry.problem:
            raise InvalidRequest.single("model", entry.problem)
        count = messages.parse_image_count(num_images, self.service.max_images)
        rows = parse_batch(entry.schema, settings, text=text, file_name=file_name, file_data=file_data,
                           max_rows=self.max_rows)
        return Batch(model, tuple(rows), count)

    def room(self, visitor: Visitor, model: str) -> int | None:
        """Images this visitor may still make now, on what pays for them; None: no limit.
        A visitor's own token pays for their images: no quota, no host budget."""
        if visitor.token:
            return None
        limits = []
        quota = self.service.quota
        if quota is not None and quota.enabled:
            left = quota.remaining(visitor.keys)
            if left != UNLIMITED:
                limits.append(left)
        if self.budget is not None:
            left = self.budget.images_left(model)
            if left is not None:
                limits.append(left)
        return max(0, min(limits)) if limits else None

    def check_room(self, batch: Batch, visitor: Visitor) -> None:
        """Raise BatchRefused when the whole batch does not fit in what is left."""
        room = self.room(visitor, batch.model)
        if room is None or batch.total_images <= room:
            return
        fits = room // batch.num_images
        per = f" ({batch.num_images} per prompt)" if batch.num_images > 1 else ""
        needs = f"This batch needs {batch.total_images} images{per}, but only {room} can be made now"
        if fits:
            advice = f"the first {fits} of its {len(batch.rows)} prompts would fit. Run fewer prompts"
        else:
            advice = "not even one of its prompts fits. Try again later"
        hint = self.service.quota.own_token_hint if self.service.quota is not None else None
        hint = f", or {hint}" if hint else ""
        raise BatchRefused(f"{needs}: {advice}{hint}. Nothing was sent.", fits)

    async def run(self, batch: Batch, *, visitor: Visitor = Visitor(),
                  session: str | None = None) -> AsyncIterator[BatchSnapshot]:
        """Run every prompt; yield a BatchSnapshot on changes (at most every MIN_UPDATE_SECONDS,
        and at the end). Raises BatchRefused / quota.QuotaExceeded / ShuttingDown before sending."""
        service = self.service
        if not service.accepting:
            raise ShuttingDown("The app is restarting. Try again in a moment.")
        self.check_room(batch, visitor)
        reservation = None
        if not visitor.token and service.quota is not None and service.quota.enabled:
            reservation = service.quota.reserve(visitor.keys, batch.total_images)  # one running slot
        items = [BatchItem(row.line, row.inputs) for row in batch.rows]
        pending = list(range(len(items)))[::-1]  # popped from the end: first line first
        changed = asyncio.Event()
        key = session or ""
        inner_session = f"{key}/batch"

        def update(index: int, **changes: Any) -> None:
            items[index] = replace(items[index], **changes)
            changed.set()

        async def worker() -> None:
            while pending:
                index = pending.pop()
                update(index, state="running")
                jobs = [Job(batch.model, items[index].inputs)] * batch.num_images
                try:
                    generation = service.run_jobs(jobs, visitor=visitor, session=inner_session, prepaid=True)
                    async with contextlib.aclosing(generation):
                        async for snapshot in generation:
                            update(index, slots=snapshot.slots)
                except ShuttingDown as error:
                    update(index, state="done", slots=_ended(batch, "failed", str(error)))
                    return
                except BudgetSpent as error:  # the host's day ran out under the batch (other visitors)
                    update(index, slots=_ended(batch, "failed", str(error)))
                except Exception:  # noqa: BLE001 - one prompt's trouble must not stop the others
                    logger.exception("a batch prompt failed unexpectedly")
                    update(index, slots=_ended(batch, "failed", messages.UNEXPECTED))
                update(index, state="done")

        current = asyncio.current_task()
        if current is not None:
            self._runs[key].add(current)
        workers = [asyncio.create_task(worker()) for _ in range(min(self.parallel, len(items)))]
        workers_done = asyncio.Event()

        def worker_ended(_: asyncio.Task) -> None:
            if all(w.done() for w in workers):
                workers_done.set()
                changed.set()

        for w in workers:
            w.add_done_callback(worker_ended)
        try:
            await asyncio.sleep(0)  # the first workers start, so the first snapshot says so
            snapshot = self._snapshot(key, batch, items)
            yield snapshot
            loop = asyncio.get_running_loop()
            sent_at = loop.time()
            while not snapshot.done:
                await changed.wait()
                changed.clear()
                if workers_done.is_set():  # e.g. stopping: what never started is cancelled
                    for index in pending:
                        update(index, state="canceled")
                    pending.clear()
                    changed.clear()
                elif (wait := sent_at + MIN_UPDATE_SECONDS - loop.time()) > 0:
                    await asyncio.sleep(wait)  # several changes, one update
                    changed.clear()
                snapshot = self._snapshot(key, batch, items)
                sent_at = loop.time()
                yield snapshot
        finally:
            # Normal end, Cancel, a closed tab: the workers' generations cancel their predictions.
            for w in workers:
                w.cancel()
            if workers:
                await asyncio.wait(workers, timeout=2)
            used = _used_images(items, batch.num_images)
            for index, item in enumerate(items):
                if item.state == "queued":
                    items[index] = replace(item, state="canceled")
                elif item.state == "running":  # cancelled in flight: its images that had not ended
                    slots = tuple(s if s.done else replace(s, status="canceled", finished_at=time.monotonic())
                                  for s in item.slots)
                    items[index] = replace(item, state="done", slots=slots or _ended(batch, "canceled"))
            self._snapshot(key, batch, items)
            if reservation is not None:
                reservation.release(used_images=used)
            if current is not None:
                self._runs[key].discard(current)
                if not self._runs[key]:
                    self._runs.pop(key, None)

    def last(self, session: str | None) -> BatchSnapshot | None:
        """The latest state of a session's most recent batch (for Cancel and Download all)."""
        return self._last.get(session or "")

    async def wait_idle(self, session: str | None, timeout: float) -> bool:
        """Wait (up to `timeout` s) until the session has no batch running; True if none is."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._runs.get(session or "") and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return not self._runs.get(session or "")

    def cancel_session(self, session: str | None) -> int:
        """Cancel a session's running batches (Stop, or its tab was closed). Returns the count."""
        tasks = list(self._runs.get(session or "", ()))
        for task in tasks:
            task.cancel()
        return len(tasks)

    def archive(self, snapshot: BatchSnapshot) -> Path:
        """One zip of the batch: every stored image as it was made, and batch.csv saying which prompt,
        settings and prediction made each file (and what became of the prompts without one)."""
        folder = self._folder()
        target = folder / f"imagen-batch-{snapshot.batch.id}.zip"
        temporary = folder / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with zipfile.ZipFile(temporary, "w") as archive:
                names: set[str] = set()
                rows = []
                for item in snapshot.items:
                    for slot in item.slots or (None,):
                        for path in (slot.paths if slot else ()) or (None,):
                            name = ""
                            if path is not None and path.is_file():
                                name = _unique(f"images/{path.name}", names)
                                # Images are compressed already: stored as they are.
                                archive.write(path, name, compress_type=zipfile.ZIP_STORED)
                            rows.append((item, slot, name))
                archive.writestr("batch.csv", _csv(snapshot, rows), compress_type=zipfile.ZIP_DEFLATED)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        self._prune(folder)
        return target

    # --- internals -------------------------------------------------------------------------------

    def _snapshot(self, key: str, batch: Batch, items: list[BatchItem]) -> BatchSnapshot:
        snapshot = BatchSnapshot(batch, tuple(items))
        self._last[key] = snapshot
        return snapshot

    def _folder(self) -> Path:
        if self._archive_dir is None:
            self._archive_dir = Path(tempfile.mkdtemp(prefix="imagen-ui-batches-"))
        self._archive_dir.mkdir(parents=True, exist_ok=True)
        return self._archive_dir

    def _prune(self, folder: Path) -> None:
        zips = sorted(folder.glob("imagen-batch-*.zip"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in zips[KEPT_ARCHIVES:]:
            old.unlink(missing_ok=True)


def _ended(batch: Batch, status: str, message: str | None = None) -> tuple[ImageSlot, ...]:
    """Slots for a prompt whose images all ended the same way without running."""
    return tuple(ImageSlot(index=i, model=batch.model, status=status, message=message)
                 for i in range(batch.num_images))


def _used_images(items: Sequence[BatchItem], per_prompt: int) -> int:
    """Images that may have reached Replicate: exact for finished prompts; every image of a prompt
    still in flight (its last snapshot may predate a create), so a cancel never refunds a billed one."""
    used = 0
    for item in items:
        if item.state == "done":
            used += sum(slot.billable for slot in item.slots)
        elif item.state == "running":
            used += per_prompt
    return used


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".")
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem}-{number}{dot}{suffix}"
    taken.add(candidate)
    return candidate


def _csv(snapshot: BatchSnapshot, rows: list[tuple[BatchItem, ImageSlot | None, str]]) -> str:
    settings = list(dict.fromkeys(name for item in snapshot.items for name in item.inputs if name != "prompt"))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["line", "prompt", "model", *settings, "image", "status", "file", "prediction_id", "message"])
    for item, slot, name in rows:
        writer.writerow([
            item.line, _safe_cell(item.prompt), snapshot.batch.model,
            *(_safe_cell(str(item.inputs.get(s, ""))) for s in settings),
            (slot.index + 1) if slot else "", (slot.status if slot else item.status), name,
            (slot.prediction_id or "") if slot else "", _safe_cell((slot.message or "") if slot else ""),
        ])
    return out.getvalue()


def _safe_cell(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (prompts are anyone's text)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
