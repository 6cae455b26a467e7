"""The one orchestrator: validate -> uploads -> N predictions in parallel -> download -> history -> events.

The UI calls `GenerationService.generate`, an async generator of `Snapshot`s: one per change a person
can see (an image started, is processing, finished, failed, was cancelled). Cancelling the
task that iterates it cancels every prediction of that click on Replicate (the client's `run` is
cancel-safe); images already finished stay in the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from cachetools import LRUCache

from imagen_ui import pricing
from imagen_ui.catalog import ModelEntry, means_retired, retired_entry
from imagen_ui.public.budget import Budget
from imagen_ui.public.quota import Quota
from imagen_ui.public.remembered_tokens import TokenForgotten, TokenVault
from imagen_ui.replicate.client import (
    DownloadError,
    ModelNotFoundError,
    Prediction,
    PredictionCanceledError,
    PredictionFailedError,
    ReplicateClient,
    ReplicateError,
    create_refused,
)
from imagen_ui.replicate.pacing import TokenBucket
from imagen_ui.schema import InvalidRequest, ModelSchema
from imagen_ui.service import messages
from imagen_ui.service.charges import Charges
from imagen_ui.service.fair_share import FairQueue, lane_of
from imagen_ui.service.image_count import SEED_INPUT, plan_images
from imagen_ui.service.input_images import InputImage, check_image_inputs
from imagen_ui.service.uploads import UploadFailed, images_in, upload_all, with_links
from imagen_ui.store.archive import write_zip
from imagen_ui.store.history import Entry, History, parameters_of
from imagen_ui.store.input_images import InputImages

# Replicate allows 600 creates a minute per account; a burst covers one busy moment.
CREATES_PER_SECOND = 10.0
CREATE_BURST = 100
# History's tiles wait for a moment with no click in flight, at most this long after the image is
# stored (a tile left undone is made when first shown).
TILE_DELAY_MAX = 30.0
TILE_POLL_SECONDS = 0.2
# How long a step that is not an ending (starting -> processing) waits before it is shown.
STEP_HOLD_SECONDS = 1.0
# A prediction that fails this soon with a "model not found" error means the model was withdrawn.
RETIRED_WITHIN_SECONDS = 15.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageSlot:
    """What one of the click's images is doing, as the page shows it."""

    index: int
    model: str = ""
    # queued | uploading (the click's input images) | sent (to Replicate, no answer yet) |
    # starting | processing (as Replicate says) | succeeded | failed | canceled
    status: str = "queued"
    started_at: float | None = None  # monotonic time the prediction was sent
    finished_at: float | None = None
    prediction_id: str | None = None
    predict_time: float | None = None
    paths: tuple[Path, ...] = ()  # the stored files: one, or several for a model with a list output
    message: str | None = None  # a person's words for a failure
    seed: int | None = None  # the seed sent with the prediction, when the model takes one
    uploads: int = 0  # input images being uploaded for the click (status "uploading")
    # Its create may have reached Replicate (so it may be billed): set when the create is sent,
    # cleared only when Replicate certainly made nothing (a 4xx answer, a request that never left).
    billable: bool = False

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "canceled")


class ShuttingDown(Exception):
    """A click that arrives while the app is stopping."""


@dataclass(frozen=True)
class Job:
    """One prediction to make: which model, with which validated inputs, and how many of the
    click's images it makes (more than one only through the model's own count input)."""

    model: str
    inputs: Mapping[str, object]
    outputs: int = 1


@dataclass(frozen=True)
class Visitor:
    """Who is asking: their history owner id (public mode), quota keys, and own token if any."""

    owner: str | None = None
    keys: tuple[str, ...] = ()
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Viewer:
    """Whose history a request may see: a visitor's own (public mode) or everything (local run)."""

    owner: str | None = None
    everyone: bool = True


@dataclass(frozen=True)
class HistoryPage:
    entries: list[Entry]
    total: int
    page: int  # 0-based, clamped to the pages there are
    pages: int


@dataclass(frozen=True)
class Restored:
    """Settings read from an image: the model, its form values, and the inputs left out as invalid."""

    model: str
    values: dict[str, object]
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    slots: tuple[ImageSlot, ...]
    prompt: str = ""  # the click's prompt, for what its files are named after

    @property
    def done(self) -> bool:
        return all(slot.done for slot in self.slots)

    @property
    def paths(self) -> list[Path]:
        return [path for slot in self.slots for path in slot.paths]


class GenerationService:
    """Runs generations for every visitor of one app, within the account's limits."""

    def __init__(
        self,
        client: ReplicateClient,
        catalog: Mapping[str, ModelEntry],
        history: History,
        *,
        default_model: str | None = None,
        max_in_flight: int = 64,
        max_images: int = 4,
        timeout: float = 600.0,
        has_token: bool = True,
        quota: Quota | None = None,
        budget: Budget | None = None,
        vault: TokenVault | None = None,
        visitor_api_base: str = "https://api.replicate.com",
        webhook_url: str | None = None,
        configured_model: str | None = None,
        upload_roots: tuple[Path, ...] = (),
    ) -> None:
        self.client = client
        self.catalog = dict(catalog)
        self.default_model = default_model or next(iter(self.catalog))
        # The model the settings ask for (the page says so once when it had to open on another).
        self.configured_model = configured_model or self.default_model
        # Where image files named by a request may be read from (Gradio's uploads, the history).
        self.upload_roots = (*upload_roots, history.root)
        self.history = history
        self.max_images = max_images
        self.max_compare = 4
        self.timeout = timeout
        self.has_token = has_token
        # A queue, not errors: a click beyond the bound waits for a free slot, its visitor's turn
        # coming round-robin with every other visitor's (fair_share).
        self._turns = FairQueue(max_in_flight, TokenBucket(rate=CREATES_PER_SECOND, burst=CREATE_BURST))
        self.quota = quota
        self.budget = budget
        self.vault = vault  # visitors' remembered tokens (public mode)
        self._charges = Charges(quota, budget)
        # Where Replicate can reach this app: predictions then report their end by webhook and
        # polling is only the safety net (see bootstrap).
        self.webhook_url = webhook_url
        self._visitor_clients = VisitorClients(visitor_api_base)
        self._sessions: dict[str, set[asyncio.Task]] = defaultdict(set)
        self._last: dict[str, Snapshot] = {}
        self._loop: asyncio.AbstractEventLoop | None = None  # where the generations run
        self._background: set[asyncio.Task] = set()  # clean-ups that outlive their click
        self._accepting = True
        # History's tiles, made after the click's images are shown, one at a time, once no click is
        # in flight (at most TILE_DELAY_MAX later): off the clicks' path and out of their CPU's way.
        self._tiles = ThreadPoolExecutor(1, thread_name_prefix="history-tiles")
        self._tiles_stop = threading.Event()

    @property
    def accepting(self) -> bool:
        """False once the app is stopping (drain): new work is refused."""
        return self._accepting

    def schema_for(self, model: str) -> ModelSchema:
        entry = self.catalog.get(model)
        if entry is None or entry.schema is None:
            raise InvalidRequest.single("model", f"This app does not offer the model {model!r}.")
        return entry.schema

    def validate(self, values: Mapping[str, object], num_images: object,
                 model: str | None = None) -> tuple[dict, int]:
        """Clean inputs and image count, or raise schema.InvalidRequest with a person's message
        (also for a model Replicate no longer has: the catalog's problem, said before any call).

        Image inputs come back as checked InputImages (or links), sent by `generate`. Their checks
        decode images: from the event loop, call `avalidate`."""
        model = model or self.default_model
        entry = self.catalog.get(model)
        if entry is not None and entry.problem:
            raise InvalidRequest.single("model", entry.problem)
        count = messages.parse_image_count(num_images, self.max_images)
        schema = self.schema_for(model)
        image_fields = [f for f in schema.fields if f.is_image]
        images, problems = check_image_inputs(image_fields, values, model=model, allowed_roots=self.upload_roots)
        # The schema checks the rest, and the links among the images; a checked file stands in as
        # an empty data URI (a valid link) until it is uploaded.
        stand_in = {f.name: _links_only(images.get(f.name)) for f in image_fields}
        try:
            clean = schema.validate({**values, **stand_in})
        except InvalidRequest as error:
            said = {p.field for p in problems}  # an image refused is not also "required"
            raise InvalidRequest([*problems, *(p for p in error.problems if p.field not in said)]) from None
        if problems:
            raise InvalidRequest(problems)
        clean.update(images)
        return clean, count

    async def avalidate(self, values: Mapping[str, object], num_images: object,
                        model: str | None = None) -> tuple[dict, int]:
        """`validate` in a worker thread: checking images decodes them."""
        return await asyncio.to_thread(self.validate, values, num_images, model)

    async def precheck_images(self, model: str, name: str, value: object) -> list[str]:
        """What is wrong with the images just put into `model`'s image input `name` (nothing sent):
        the page says so at once, and the click then finds them already checked."""
        fields = [f for f in self.schema_for(model).fields if f.name == name and f.is_image]
        _, problems = await asyncio.to_thread(check_image_inputs, fields, {name: value}, model=model,
                                              allowed_roots=self.upload_roots)
        return [problem.message for problem in problems]

    def retire(self, model: str) -> None:
        """Mark `model` as gone from Replicate (found out by a click): the picker and Compare show it
        as retired, clicks on it are refused before anything is sent, the page opens on another."""
        entry = self.catalog.get(model)
        if entry is None or (entry.problem and entry.retired):
            return
        logger.warning("Replicate no longer serves %s: marking it retired", model)
        self.catalog[model] = retired_entry(model, others=[m for m, e in self.catalog.items()
                                                           if e.usable and m != model])
        if model == self.default_model:
            self.default_model = next((m for m, e in self.catalog.items() if e.usable), model)

    def retirement_notice(self) -> str | None:
        """Said once when the page opens on another model than the one it is set up for."""
        wanted = self.catalog.get(self.configured_model)
        if wanted is None or wanted.usable or self.default_model == self.configured_model:
            return None
        return messages.opened_instead(self.configured_model, self.default_model)

    def usable_model(self, model: str | None) -> str:
        """`model` when it can be used, else the one the page opens with (e.g. Reuse of an image
        made by a model that was retired since)."""
        entry = self.catalog.get(model or "")
        return model if entry is not None and entry.usable else self.default_model

    def generate(
        self,
        inputs: Mapping[str, object],
        num_images: int,
        *,
        model: str | None = None,
        visitor: Visitor = Visitor(),
        session: str | None = None,
    ) -> AsyncIterator[Snapshot]:
        """Start `num_images` predictions of validated `inputs`; yield a Snapshot on every change.

        A visitor's own token pays for their images (and lifts the host's quota); otherwise the
        host's quota applies, and quota.QuotaExceeded is raised before anything is sent.
        Seeds and the model's own count input are planned by `image_count.plan_images`."""
        model = model or self.default_model
        jobs = [Job(model, planned.inputs, planned.outputs)
                for planned in plan_images(self.schema_for(model), inputs, num_images)]
        return self.run_jobs(jobs, visitor=visitor, session=session)

    def compare(
        self,
        prompt: str,
        models: list[str],
        common: Mapping[str, object],
        *,
        visitor: Visitor = Visitor(),
        session: str | None = None,
    ) -> AsyncIterator[Snapshot]:
        """One image of `prompt` from each of `models`, side by side. `common` inputs (e.g. the
        aspect ratio) go to the models that take them; each model's defaults fill the rest.
        Raises InvalidRequest before anything is sent."""
        models = list(dict.fromkeys(models))
        if not 1 <= len(models) <= self.max_compare:
            raise InvalidRequest.single("models", f"Pick from 1 to {self.max_compare} models to compare.")
        jobs = []
        for model in models:
            entry = self.catalog.get(model)
            if entry is None or not entry.usable:
                problem = entry.problem if entry else f"This app does not offer the model {model!r}."
                raise InvalidRequest.single("models", problem)
            schema = entry.schema
            values = {"prompt": prompt, **{k: v for k, v in common.items() if k in schema.names}}
            jobs.append(Job(model, schema.validate(values)))
        return self.run_jobs(jobs, visitor=visitor, session=session)

    async def run_jobs(
        self,
        jobs: list[Job],
        *,
        visitor: Visitor = Visitor(),
        session: str | None = None,
        prepaid: bool = False,
    ) -> AsyncIterator[Snapshot]:
        """Make one image per job, all in parallel (one click, or one Compare across models).
        `prepaid`: the caller holds the quota reservation for these images (a batch, see batch.py)."""
        if not self._accepting:
            raise ShuttingDown("The app is restarting. Try again in a moment.")
        self._loop = asyncio.get_running_loop()
        if visitor.token and self.vault is not None and self.vault.forgotten(visitor.token):
            raise TokenForgotten
        client = self._visitor_clients.get(visitor.token) if visitor.token else self.client
        # One slot per image the click makes: tile 2 is always image 2, whatever happens to it.
        firsts = [sum(job.outputs for job in jobs[:i]) for i in range(len(jobs))]
        slots = [ImageSlot(index=first + k, model=job.model, seed=_seed_of(job))
                 for first, job in zip(firsts, jobs) for k in range(job.outputs)]
        charged = [(job.model, job.inputs) for job in jobs for _ in range(job.outputs)]
        tab = self._charges.open(visitor.keys, charged, own_token=bool(visitor.token), prepaid=prepaid)
        lane = lane_of(visitor.keys)
        # Input images go up once per click, in parallel, before the predictions that use them.
        images = images_in(job.inputs for job in jobs)
        uploads = asyncio.create_task(upload_all(client, images)) if images else None
        # Kept beside the history meanwhile (Replicate deletes its copies): not after the image.
        keeping = asyncio.create_task(asyncio.to_thread(self._keep_inputs, images)) if images else None
        if images:
            slots = [replace(slot, status="uploading", uploads=len(images)) for slot in slots]
        changed = asyncio.Event()

        def update(indexes: range, **changes: object) -> None:
            for index in indexes:
                slots[index] = replace(slots[index], **changes)
            changed.set()

        tasks = [
            asyncio.create_task(self._one_prediction(client, range(first, first + job.outputs), job,
                                                     visitor.owner, update, lane, uploads, keeping))
            for first, job in zip(firsts, jobs)
        ]
        key = session or ""
        self._sessions[key].update(tasks)
        try:
            await asyncio.sleep(0)  # lets the tasks start, so the first snapshot already says so
            prompt = str(jobs[0].inputs.get("prompt") or "") if jobs else ""
            snapshot = Snapshot(tuple(slots), prompt)
            self._last[key] = snapshot
            yield snapshot
            sent, held_until = snapshot, None
            loop = asyncio.get_running_loop()
            while not snapshot.done:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancel (the Stop
                # button) that arrives just as the event is set, and the click would run on.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(held_until):
                        await changed.wait()
                changed.clear()
                snapshot = Snapshot(tuple(slots), prompt)
                self._last[key] = snapshot
                # Each snapshot sent costs the page an update (Gradio's postprocessing, an event on
                # the stream), so only what a person can see is sent, and a mere step (starting ->
                # processing) is held back briefly: the image often ends within it and the step would
                # only flash. Endings go at once. The page counts the seconds meanwhile (ui.PAGE_JS).
                if _visible(snapshot) == _visible(sent):
                    held_until = None
                    continue
                if _ended(sent, snapshot) or (held_until is not None and loop.time() >= held_until):
                    sent, held_until = snapshot, None
                    yield snapshot
                elif held_until is None:
                    held_until = loop.time() + STEP_HOLD_SECONDS
        finally:
            # Reached on normal end, on cancel (Stop button, closed tab) and on generator close:
            # cancelling the tasks makes the client cancel their predictions on Replicate.
            for task in tasks:
                task.cancel()
            if uploads is not None:
                uploads.cancel()
            if keeping is not None and not any(slot.paths for slot in slots):
                self._spawn(self._release_inputs(keeping, images))  # nothing was made from them
            tab.settle([slot.billable for slot in slots])  # refunds what certainly never reached Replicate
            self._sessions[key].difference_update(tasks)
            if not self._sessions[key]:
                self._sessions.pop(key, None)

    def images_left(self, visitor: Visitor) -> int | None:
        """Images this visitor may still make this hour on the host's token (None: no hourly limit
        applies to them, e.g. a local run, offline placeholders or their own token)."""
        if visitor.token or self.quota is None or not self.quota.enabled or not self.quota.images_per_hour:
            return None
        return max(0, self.quota.remaining(visitor.keys))

    def last_snapshot(self, session: str | None) -> Snapshot | None:
        """The latest state of a session's most recent click (for the Stop button's status)."""
        return self._last.get(session or "")

    def archive(self, snapshot: Snapshot) -> Path | None:
        """Download all: a zip of a click's stored originals, named after the click (None when it
        made fewer than two files: the Download button has the one)."""
        paths = snapshot.paths
        if len(paths) < 2:
            return None
        models = {slot.model for slot in snapshot.slots}
        return write_zip(paths, model=models.pop() if len(models) == 1 else "compare", prompt=snapshot.prompt)

    def cancel_session(self, session: str | None) -> int:
        """Cancel everything a browser session has in flight (its tab was closed). Returns the count."""
        tasks = list(self._sessions.get(session or "", ()))
        for task in tasks:
            task.cancel()
        self._last.pop(session or "", None)
        return len(tasks)

    # --- history --------------------------------------------------------------------------------

    def history_page(self, viewer: Viewer, *, query: str = "", page: int = 0,
                     per_page: int = 24) -> HistoryPage:
        """One page of the viewer's images, newest first; `query` filters by prompt text."""
        query = " ".join(str(query or "").split())[:200]
        total = self.history.count(owner=viewer.owner, everyone=viewer.everyone, query=query)
        pages = max(1, -(-total // per_page))
        page = min(max(0, int(page)), pages - 1)
        entries = self.history.page(owner=viewer.owner, everyone=viewer.everyone, query=query,
                                    offset=page * per_page, limit=per_page)
        return HistoryPage(entries, total, page, pages)

    def history_cost(self, viewer: Viewer, *, query: str = "") -> str | None:
        """What the viewer's images (matching `query`) cost on Replicate, as an estimate: "about $1.24
        (estimate, …)"; None when there are none."""
        query = " ".join(str(query or "").split())[:200]
        by = pricing.PRICED_INPUTS[0] if pricing.PRICED_INPUTS else None
        rows = self.history.tally(owner=viewer.owner, everyone=viewer.everyone, query=query, by=by)
        if not rows:
            return None
        usd = sum(pricing.image_price(model, {by: value} if by else {}) * count
                  for model, value, count in rows if pricing.known(model))
        unpriced = sum(count for model, _, count in rows if not pricing.known(model))
        left_out = f"; {unpriced} of models with no known price left out" if unpriced else ""
        return f"about {pricing.format_usd(usd)} (estimate, Replicate's prices of {pricing.PRICES_AS_OF}{left_out})"

    @property
    def priced_inputs(self) -> tuple[str, ...]:
        """The inputs a price can depend on (the page updates its estimate when one changes)."""
        return pricing.PRICED_INPUTS

    def estimate(self, model: str | None, num_images: object, values: Mapping[str, object] | None = None) -> str:
        """"about $0.08 for 4 images (estimate, …)" for a click about to be made; "" when the price
        table does not know the model or the count is not a valid one."""
        try:
            count = messages.parse_image_count(num_images, self.max_images)
        except InvalidRequest:
            return ""
        return pricing.describe_estimate(model or self.default_model, values or {}, count) or ""

    def history_entry(self, viewer: Viewer, entry_id: int | None) -> Entry | None:
        """An entry the viewer may see, or None."""
        entry = self.history.get(int(entry_id)) if entry_id is not None else None
        if entry is None or not (viewer.everyone or entry.owner == viewer.owner):
            return None
        return entry

    def preview(self, entry: Entry, kind: str = "gallery") -> Path | None:
        """A small copy of a stored image for the page ("gallery": 1024 px, "tile": 384 px), made
        if missing; None if none can be made. Blocking (it may decode the image): call from a thread."""
        return self.history.preview(entry.path, kind)

    def delete_entry(self, viewer: Viewer, entry_id: int) -> bool:
        return self.history.delete(int(entry_id), owner=viewer.owner, everyone=viewer.everyone)

    def form_values(self, inputs: Mapping[str, object], model: str | None = None) -> dict[str, object]:
        """Stored inputs as a model's form values: known fields only, each one valid for the model's
        schema (the others are left at their defaults), defaults for the rest. The images it was made
        from come back as their kept files (paths), in the model's image input of the same name, else
        in its first one (up to what that input takes)."""
        return self.restore_values(inputs, model)[0]

    def restore_values(self, inputs: Mapping[str, object],
                       model: str | None = None) -> tuple[dict[str, object], list[str]]:
        """`form_values`, and the labels of the inputs left out because the model would refuse them."""
        schema = self.schema_for(model if model in self.catalog else self.default_model)
        values = schema.defaults()
        image_fields = [f for f in schema.fields if f.is_image]
        images = {f.name for f in image_fields}
        # Image inputs hold stored names (not links) in the history: they are restored below.
        valid, problems = schema.validate_each({k: v for k, v in inputs.items() if k not in images})
        values.update(valid)
        for f in image_fields:
            value = inputs.get(f.name)
            if isinstance(value, list):
                links = [v for v in value if not InputImages.is_name(v)]
                if links:
                    values[f.name] = links
            elif value is not None and not InputImages.is_name(value):
                values[f.name] = value
        kept = {name: [path for n in names if (path := self.history.input_images.path(n))]
                for name, names in InputImages.names_in(inputs)}
        if kept and image_fields:
            target = next((f for f in image_fields if f.name in kept), image_fields[0])
            paths = kept.get(target.name) or [p for group in kept.values() for p in group]
            paths = [str(p) for p in paths][: target.image_limit]
            if paths:
                values[target.name] = paths if target.kind == "array" else paths[0]
        return values, [schema.field(p.field).label for p in problems if p.field in schema.names]

    def input_image_paths(self, inputs: Mapping[str, object]) -> list[Path]:
        """The kept files of the images a history entry was made from, in order."""
        return [path for _, names in InputImages.names_in(inputs) for n in names
                if (path := self.history.input_images.path(n))]

    def settings_from_image(self, data: bytes) -> Restored | None:
        """The model and form values embedded in one of our images (or an A1111-style one), each
        checked against the model's schema before it may fill the form."""
        found = parameters_of(data)
        if found is None:
            return None
        model = found["model"] if found["model"] in self.catalog else self.default_model
        values, skipped = self.restore_values(found["inputs"], model)
        return Restored(model, values, skipped)

    async def drain(self, grace: float) -> None:
        """Stop taking clicks; give the images in flight up to `grace` seconds to finish and be
        stored (each one is billed); cancel the rest on Replicate; close the clients."""
        if not self._accepting:
            return  # drained already
        self._accepting = False
        tasks = {task for tasks in self._sessions.values() for task in tasks}
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        await self.aclose()  # waits (briefly) for the cancels sent in the background

    def shutdown(self, grace: float) -> None:
        """`drain` from another thread (a signal handler), blocking until it is done."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return  # nothing ever ran, or the loop is gone already
        future = asyncio.run_coroutine_threadsafe(self.drain(grace), loop)
        try:
            future.result(timeout=grace + 20)
        except Exception:  # noqa: BLE001 - stopping anyway; say what could not be finished
            logger.warning("Stopped before every image in flight was finished or cancelled")

    async def check_token(self, token: str) -> str:
        """The Replicate user name a visitor's token belongs to (raises the client's typed errors)."""
        account = await self._visitor_clients.get(token).account()
        if self.vault is not None:
            self.vault.pasted_again(token)
        return str(account.get("username") or account.get("name") or "unknown")

    def forget_token(self, token: str | None) -> None:
        """Forget a visitor's token everywhere: its client, its seals on every device, the sessions
        that hold it (remembered_tokens)."""
        self._visitor_clients.forget(token)
        if token and self.vault is not None:
            self.vault.forget(token)

    def discard_token(self, token: str | None) -> None:
        """Drop the client of a token that did not check out (nothing else is kept of it)."""
        self._visitor_clients.forget(token)

    def remember_token(self, token: str, device: str | None) -> str:
        """The seal a visitor's browser keeps when they ask to be remembered ("" if it cannot)."""
        return self.vault.seal(token, device) if self.vault is not None and device else ""

    def recall_token(self, sealed: str | None, device: str | None) -> str | None:
        """The token of a seal this device kept, if it still opens."""
        if self.vault is None or not sealed or not device:
            return None
        return self.vault.open(sealed, device)

    async def aclose(self) -> None:
        self._tiles_stop.set()  # tiles left undone are made when shown
        self._tiles.shutdown(wait=False, cancel_futures=True)
        await self._visitor_clients.aclose()
        await self.client.aclose()

    async def _one_prediction(self, client: ReplicateClient, index: range, job: Job, owner: str | None,
                              update, lane: str = "", uploads: asyncio.Task | None = None,
                              keeping: asyncio.Task | None = None) -> None:
        """Make one prediction and keep its files; `index` is the range of its slots (images).
        `uploads` (the click's input images being sent) gives the links to send in their place."""
        model, inputs = job.model, dict(job.inputs)
        created: str | None = None  # the prediction's id, once Replicate answered the create
        try:
            sent = inputs
            if uploads is not None:
                links = await asyncio.shield(uploads)  # shared by the click's images
                sent = with_links(inputs, links)
                update(index, status="queued", uploads=0)
            async with self._turns.turn(lane):
                # "sent", not "starting": until Replicate answers, nothing is known of its state.
                update(index, status="sent", started_at=time.monotonic(), billable=True)

                def on_update(prediction: Prediction) -> None:
                    nonlocal created
                    created = prediction.id
                    shown = _shown_status(prediction.status)
                    update(index, prediction_id=prediction.id, **({"status": shown} if shown else {}))

                # Visitors' clients are not woken by our webhook route (it knows the host's secret only).
                webhook = self.webhook_url if client is self.client else None
                prediction = await client.run(
                    model, sent, timeout=self.timeout, on_update=on_update, webhook=webhook,
                    webhook_events_filter=["completed"] if webhook else None,
                )
                update(index, prediction_id=prediction.id, predict_time=prediction.predict_time)
                if keeping is not None:
                    await asyncio.shield(keeping)  # the entry names its input images: they are on disk first
                paths = await self._keep(client, model, prediction, inputs, owner)
            self._finish(index, paths, update)
        except asyncio.CancelledError:
            update(index, status="canceled", finished_at=time.monotonic())
            raise
        except PredictionCanceledError:
            update(index, status="canceled", finished_at=time.monotonic())
        except UploadFailed as failed:
            text = messages.describe_upload(failed.error, name=failed.image.name,
                                            has_token=self.has_token or client is not self.client)
            update(index, status="failed", message=text, finished_at=time.monotonic())
        except ReplicateError as error:
            if _means_retired(error):
                self.retire(model)
            has_token = self.has_token or client is not self.client
            text = messages.describe(error, model=model, inputs=inputs, has_token=has_token,
                                     others=[m for m, e in self.catalog.items() if e.usable and m != model])
            update(index, status="failed", message=text, finished_at=time.monotonic(),
                   **({"billable": False} if created is None and create_refused(error) else {}))
        except Exception:  # noqa: BLE001 - one broken image must not hide the others
            # The type only: an unexpected error's text could carry upstream data.
            logger.exception("image %d failed unexpectedly", index.start)
            update(index, status="failed", message=messages.UNEXPECTED, finished_at=time.monotonic())

    @staticmethod
    def _finish(index: range, paths: tuple[Path, ...], update) -> None:
        """Each slot its own file; files beyond the slots (a list output longer than asked for)
        join the last one, and a slot the model made no file for says so."""
        done = time.monotonic()
        for number, slot in enumerate(index):
            mine = paths[number:number + 1] if slot != index[-1] else paths[number:]
            if mine:
                update(range(slot, slot + 1), status="succeeded", paths=mine, finished_at=done)
            else:
                update(range(slot, slot + 1), status="failed", finished_at=done,
                       message=f"The model returned {len(paths)} of the {len(index)} images asked for.")

    async def _keep(self, client: ReplicateClient, model: str, prediction: Prediction,
                    inputs: Mapping, owner: str | None) -> tuple[Path, ...]:
        """Download every output file and store each in the history before it is shown."""
        urls = prediction.output_urls
        if not urls:
            raise DownloadError("the prediction succeeded without an output file")
        downloads = await asyncio.gather(*(
            client.download(url, expected_format=str(inputs.get("output_format") or "") or None)
            for url in urls))
        paths = []
        for number in range(len(downloads)):
            # One history entry per file: a list output's files get the prediction id + their index.
            stored_id = prediction.id if len(downloads) == 1 else f"{prediction.id}-{number}"
            paths.append(await self._store(model, prediction, stored_id, inputs, downloads[number], owner))
            downloads[number] = None  # on disk now: its bytes go before the previews are made
        del downloads
        # The page shows previews: made before the images are shown, from the files (so a burst of
        # large images waiting for the preview makers' few slots is not all held in memory).
        for path in paths:
            await asyncio.to_thread(self.history.preview, path, "gallery")
            self._tiles.submit(self._make_tile, path, time.monotonic() + TILE_DELAY_MAX)
        return tuple(paths)

    def _make_tile(self, path: Path, deadline: float) -> None:
        """In the tiles' thread: wait for a quiet moment (no click in flight), then make the tile.
        One left undone (the app stopped) is made when History first shows it."""
        while self._sessions and time.monotonic() < deadline:
            if self._tiles_stop.wait(TILE_POLL_SECONDS):
                return
        if not self._tiles_stop.is_set():
            self.history.preview(path, "tile")

    async def _store(self, model: str, prediction: Prediction, stored_id: str, inputs: Mapping,
                     download, owner: str | None) -> Path:
        entry = await asyncio.to_thread(
            self._add_to_history,
            data=download.data,
            fmt=download.format,
            prediction_id=stored_id,
            model=model,
            inputs=inputs,
            created_at=prediction.created_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            predict_time=prediction.predict_time,
            width=download.width,
            height=download.height,
            owner=owner,
            previews=False,
        )
        return entry.path

    def _keep_inputs(self, images: list[InputImage]) -> None:
        for image in images:
            self.history.input_images.put(image.data, image.format, image.sha256)

    async def _release_inputs(self, keeping: asyncio.Task, images: list[InputImage]) -> None:
        with contextlib.suppress(Exception):
            await keeping
        names = {InputImages.name_of(image.sha256, image.format) for image in images}
        await asyncio.to_thread(self.history.release_input_images, names)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _add_to_history(self, *, inputs: Mapping, **fields) -> Entry:
        """Store the image; its input images (kept already by `_keep_inputs`) are named in its inputs."""

        def kept(item: object) -> object:
            return InputImages.name_of(item.sha256, item.format) if isinstance(item, InputImage) else item

        named = {k: [kept(v) for v in value] if isinstance(value, list) else kept(value) for k, value in inputs.items()}
        return self.history.add(inputs=named, **fields)


def _links_only(value: object) -> object:
    """An image input's value as the schema sees it: a checked file as an empty data URI."""
    if isinstance(value, list):
        return [_links_only(item) for item in value]
    return "data:," if isinstance(value, InputImage) else value


def _means_retired(error: ReplicateError) -> bool:
    """Replicate says the model is gone: a 404 on create, or a prediction failing at once with a
    not-found error about the model (not about an input link)."""
    if isinstance(error, ModelNotFoundError):
        return True
    if not isinstance(error, PredictionFailedError):
        return False
    prediction = error.prediction
    took = prediction.total_time or prediction.predict_time
    return (took is None or took <= RETIRED_WITHIN_SECONDS) and means_retired(prediction.error)


def _seed_of(job: Job) -> int | None:
    """The seed sent with the job's prediction (for a count-input model, the seed of its whole set)."""
    seed = job.inputs.get(SEED_INPUT)
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _visible(snapshot: Snapshot) -> tuple:
    """What of a snapshot the page shows."""
    return tuple((slot.status, slot.paths, slot.message, slot.uploads) for slot in snapshot.slots)


def _ended(before: Snapshot, after: Snapshot) -> bool:
    """Did an image end (succeed, fail, be cancelled) between two snapshots?"""
    return any(slot.done and not earlier.done for earlier, slot in zip(before.slots, after.slots))


def _shown_status(status: str) -> str | None:
    """The status to show for Replicate's, or None to keep the one shown: a finished prediction's
    image is not downloaded and stored yet, and the slot's next change says how it ended."""
    return status if status in ("starting", "processing") else None


class _ClientCache(LRUCache):
    """cachetools' LRUCache that hands each client it evicts to `on_evict` (to be closed)."""

    def __init__(self, maxsize: int, on_evict: Callable[[ReplicateClient], None]) -> None:
        super().__init__(maxsize)
        self._on_evict = on_evict

    def popitem(self) -> tuple[str, ReplicateClient]:  # the documented hook for evictions
        token, client = super().popitem()
        self._on_evict(client)
        return token, client


class VisitorClients:
    """One client per visitor token (bounded, least recently used first out), all for the real API.

    Each has its own poller and pools; the token lives only in its client and in this mapping."""

    def __init__(self, base_url: str, capacity: int = 256) -> None:
        self.base_url = base_url
        self.capacity = capacity
        self._clients = _ClientCache(capacity, on_evict=self._close_later)
        self._closing: set[asyncio.Task] = set()

    def get(self, token: str) -> ReplicateClient:
        client = self._clients.get(token)
        if client is None:
            client = self._clients[token] = ReplicateClient(token, base_url=self.base_url)
        return client

    def forget(self, token: str | None) -> None:
        client = self._clients.pop(token, None) if token else None
        if client is not None:
            self._close_later(client)

    async def aclose(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.aclose()

    def _close_later(self, client: ReplicateClient) -> None:
        try:
            task = asyncio.get_running_loop().create_task(client.aclose())
        except RuntimeError:  # no loop (shutdown): its sockets close with the process
            return
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
