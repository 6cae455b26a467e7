"""A prediction's life: starting -> processing -> succeeded | failed | canceled.

One asyncio task per prediction. Rendering starts at create time in the renderer's threads so it
overlaps the model's latency; the latency counts from creation, so predict_time ~= latency.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Awaitable, Callable

from .images import ImageSpec
from .inputs import InputError
from .renderer import Renderer
from .store import Prediction, Store
from .webhooks import WebhookSender

E005 = "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
# What Google's API answers for a model it shut down, passed on as the prediction's error.
GONE = ("404 models/{model} is not found for API version v1beta, or is not supported for predict. "
        "Call ListModels to see the list of available models and their supported methods.")
_STARTING_SHARE = 0.05  # share of the latency spent "starting" (queue and boot), at most 0.25 s


def e005_message(prediction_id: str) -> str:
    ref = hashlib.sha256(prediction_id.encode()).hexdigest()[:10]
    return f"{E005} ({ref})"


class Engine:
    def __init__(self, store: Store, renderer: Renderer, webhooks: WebhookSender,
                 latency: Callable[[], float]) -> None:
        self.store = store
        self.renderer = renderer
        self.webhooks = webhooks
        self._latency = latency  # read at each create: set_latency applies to new predictions
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def create(self, *, fail: bool, gone: bool = False, cancel_after: float | None = None,
               prepare: Callable[[tuple[ImageSpec, ...]], Awaitable[tuple[ImageSpec, ...]]] | None = None,
               **fields: Any) -> Prediction:
        """Register a prediction and start running it. Call on the event loop.

        `prepare` (the input images to fetch, as Cog downloads inputs before predict) turns the
        specs into the ones to render; an InputError from it fails the prediction at once.
        `gone`: it fails at once as a shut-down model's do (`fail` alone: with E005, after the run)."""
        loop = asyncio.get_running_loop()
        latency = self._latency()
        prediction = self.store.add(**fields)
        if cancel_after is not None:
            prediction.deadline = prediction.created_at + cancel_after
            loop.call_later(cancel_after, self.cancel, prediction)
        specs = None if fail else prediction.images
        preparing = loop.create_task(prepare(specs)) if prepare is not None and specs is not None else None
        renders = [] if preparing is not None else [self.renderer.render(spec) for spec in specs or ()]
        error = None
        if gone:  # Google's own error for a model it shut down, passed on at once
            latency, specs, error = 0.0, None, GONE.format(model=prediction.model.split("/")[-1])
        task = loop.create_task(self._run(prediction, loop.time() + latency, latency, specs, renders, preparing, error))
        self._tasks[prediction.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(prediction.id, None))
        return prediction

    async def _run(self, prediction: Prediction, ends: float, latency: float,
                   specs: tuple[ImageSpec, ...] | None, renders: list[asyncio.Future[Any]],
                   preparing: asyncio.Task[tuple[ImageSpec, ...]] | None = None, error: str | None = None) -> None:
        """Run one prediction: it fails with E005 when `specs` is None, else makes those files."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.sleep(min(latency * _STARTING_SHARE, 0.25))
            if self.store.start(prediction):
                self._notify(prediction, "start")
            if preparing is not None:
                try:
                    specs = await preparing
                except InputError as exc:
                    self._finish(prediction, "failed", error=str(exc))
                    return
                except Exception as exc:  # an emulator bug shows up as a failed prediction, not a hang
                    self._finish(prediction, "failed", error=f"emulator could not read the inputs: {exc!r}")
                    return
                self.store.set_images(prediction, specs)
                renders = [self.renderer.render(spec) for spec in specs]
        finally:
            if preparing is not None and not preparing.done():
                preparing.cancel()
        await asyncio.sleep(max(0.0, ends - loop.time()))
        if specs is None:
            self._finish(prediction, "failed", error=error or e005_message(prediction.id))
            return
        try:
            # Shared with the cache: a cancel must not cancel the renders.
            await asyncio.gather(*(asyncio.shield(render) for render in renders))
        except Exception as exc:  # a render bug shows up as a failed prediction, like a model crash
            self._finish(prediction, "failed", error=f"emulator render failed: {exc!r}")
            return
        urls = [f"{prediction.base_url}/files/{prediction.id}/{spec.file_name}" for spec in specs]
        output: Any = urls if prediction.output_is_list else urls[0]
        took = loop.time() - (ends - latency)
        what = "image" if len(urls) == 1 else f"{len(urls)} images"
        self._finish(prediction, "succeeded", output=output, logs=f"Generated {what} in {took:.2f} seconds\n")

    def cancel(self, prediction: Prediction) -> None:
        task = self._tasks.pop(prediction.id, None)
        if task is not None:
            task.cancel()
        self._finish(prediction, "canceled")

    async def wait(self, prediction: Prediction, timeout: float) -> bool:
        """True once the prediction is terminal, False if `timeout` seconds passed first."""
        try:
            await asyncio.wait_for(prediction.done.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return prediction.terminal

    def _finish(self, prediction: Prediction, status: str, **fields: Any) -> None:
        if not self.store.finish(prediction, status, **fields):
            return
        # One delivery per moment: the most specific event the filter asked for.
        wanted = prediction.webhook_events
        for event, applies in (("completed", True), ("output", prediction.output is not None),
                               ("logs", bool(prediction.logs))):
            if event in wanted and applies:
                self._notify(prediction, event)
                break

    def _notify(self, prediction: Prediction, event: str) -> None:
        if prediction.webhook is None or event not in prediction.webhook_events:
            return
        body = json.dumps(self.store.render(prediction), separators=(",", ":"), ensure_ascii=False)
        self.webhooks.send(prediction.webhook, body.encode(), retry=event == "completed")

    async def aclose(self) -> None:
        """Stop every running prediction and wake requests waiting on them (server shutdown)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for prediction in self.store.running():
            prediction.done.set()
