"""One shared poller per client: watches every in-flight prediction with as few API calls as it can.

Each watched prediction has a due time: its expected end when the model's run time is known, else one
poll interval from now; then every interval, tighter for the first few polls after the expected end
(when the answer is most likely). The poller sleeps until the earliest due time; when two or more are
due it makes ONE `GET /v1/predictions` call for all of them (those not on that page get their own GET),
otherwise one `GET /v1/predictions/{id}`. A prediction that is done (terminal, or its final output is
in) resolves its waiters. A failed poll is logged and rescheduled; it never stops the poller.

A webhook (or anything else that learns a prediction's state) can resolve waiters with `resolve()`.
News of a done prediction that nobody watches yet (a webhook can beat the create's own answer) is
kept for a while, so a `watch()` that starts later resolves at once. With `webhook_grace` set,
webhooks are trusted to bring the news and polls are only a late safety net: the first one at the
expected end plus the grace (or the grace from now), then one every max(interval, grace).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache

from imagen_ui.replicate.errors import (
    PredictionNotFoundError,
    ReplicateError,
    UnauthenticatedError,
)
from imagen_ui.replicate.prediction import Prediction

__all__ = ["Poller"]

log = logging.getLogger(__name__)

OnUpdate = Callable[[Prediction], None]


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[Prediction]
    on_update: OnUpdate | None


@dataclass
class _Watch:
    latest: Prediction
    due: float
    expected_end: float | None
    waiters: list[_Waiter] = field(default_factory=list)
    polls_after_expected: int = 0
    failures: int = 0
    polling: bool = False


class _RecentlyFinished:
    """Done predictions nobody was watching when their news came: the latest `size`, for `ttl` seconds.

    A cachetools TTLCache: each entry lives `ttl` seconds from its last news, and past `size` the
    least recently used goes first.
    """

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._items: TTLCache[str, Prediction] = TTLCache(maxsize=size, ttl=ttl, timer=time.monotonic)

    def add(self, prediction: Prediction) -> None:
        if self.size < 1:
            return  # remember nothing (a cache of size 0 refuses every entry)
        known = self._items.get(prediction.id)
        if known is not None and _progress(known) > _progress(prediction):
            return  # a reordered delivery: keep the later state
        self._items[prediction.id] = prediction

    def get(self, pid: str) -> Prediction | None:
        return self._items.get(pid)

    def clear(self) -> None:
        self._items.clear()


class Poller:
    """Polls in-flight predictions for all waiters of one client.

    `get(id)` and `list_recent()` are the client's own (already retrying) calls. `remember` and
    `remember_for` bound the memory of done predictions that arrived before anyone watched them.
    """

    def __init__(
        self,
        *,
        get: Callable[[str], Awaitable[Prediction]],
        list_recent: Callable[[], Awaitable[list[Prediction]]],
        interval: float = 0.5,
        tight_interval: float = 0.1,
        tight_polls: int = 5,
        coalesce: float = 0.05,
        max_backoff: float = 10.0,
        webhook_grace: float | None = None,
        remember: int = 1000,
        remember_for: float = 120.0,
    ) -> None:
        self._get = get
        self._list_recent = list_recent
        self.interval = interval
        self.tight_interval = min(tight_interval, interval)
        self.tight_polls = tight_polls
        self.coalesce = coalesce  # polls due this soon ride along with the one due now: fewer calls
        self.max_backoff = max_backoff
        self.webhook_grace = webhook_grace
        self._finished = _RecentlyFinished(remember, remember_for)
        self._watches: dict[str, _Watch] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._poll_tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def in_flight(self) -> int:
        """How many predictions are being watched."""
        return len(self._watches)

    def watch(
        self,
        prediction: Prediction,
        *,
        expected_runtime: float | None = None,
        started: float | None = None,
        on_update: OnUpdate | None = None,
    ) -> asyncio.Future[Prediction]:
        """A future that resolves with the prediction once it is done.

        `started` is the `time.monotonic()` at which the create was sent; with `expected_runtime` it sets
        the first poll. Cancelling the future removes this waiter (and the watch when it was the last).
        """
        if self._closed:
            raise ReplicateError("the client is closed")
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        finished = prediction if prediction.is_done else self._finished.get(prediction.id)
        if finished is not None:
            if finished.status != prediction.status:
                _notify(on_update, finished)  # as a poll would have told it
            future.set_result(finished)
            return future
        now = time.monotonic()
        watch = self._watches.get(prediction.id)
        if watch is None:
            expected_end = (started if started is not None else now) + expected_runtime if expected_runtime else None
            due = self._first_due(expected_end, now)
            if prediction.status == "starting" and self.webhook_grace is None:
                # Queued or booting at Replicate: look again soon, so the page can say when it runs.
                due = min(due, now + 2 * self.interval)
            watch = self._watches[prediction.id] = _Watch(prediction, due, expected_end)
        waiter = _Waiter(future, on_update)
        watch.waiters.append(waiter)
        future.add_done_callback(lambda f: self._forget(prediction.id, waiter) if f.cancelled() else None)
        self._ensure_loop()
        self._wake.set()
        return future

    def resolve(self, data: dict[str, Any] | Prediction) -> bool:
        """Feed a prediction's state learned elsewhere (e.g. a webhook). True if it was being watched.

        A done prediction nobody watches yet is remembered (bounded), for a `watch()` that comes later.
        """
        try:
            prediction = data if isinstance(data, Prediction) else Prediction.from_json(data)
        except ValueError:
            return False
        return self._update(prediction)

    async def aclose(self) -> None:
        """Stop polling; waiters still pending get a ReplicateError."""
        self._closed = True
        tasks = [t for t in (self._loop_task, *self._poll_tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for watch in list(self._watches.values()):
            self._finish(watch, error=ReplicateError("the client was closed while waiting for the prediction"))
        self._finished.clear()

    # -- the loop ---------------------------------------------------------------------------------------

    def _ensure_loop(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="replicate-poller")

    async def _run(self) -> None:
        while self._watches:
            try:
                await self._step()
            except Exception:  # never let a bug end polling for every waiter at once
                log.exception("poller step failed")
                await asyncio.sleep(self.interval)

    async def _step(self) -> None:
        """Sleep until the earliest due poll (or a wake-up), then start one polling round."""
        self._wake.clear()  # before looking, so a wake-up during the sleep below is not lost
        idle = [(pid, w) for pid, w in self._watches.items() if not w.polling]
        now = time.monotonic()
        earliest = min((w.due for _, w in idle), default=None)
        if earliest is None or earliest > now:
            try:  # asyncio.timeout: wait_for on 3.11 can swallow the cancel that closes the poller
                async with asyncio.timeout(None if earliest is None else earliest - now):
                    await self._wake.wait()
            except TimeoutError:
                pass
            return
        due_ids = [pid for pid, w in idle if w.due <= now + self.coalesce]
        for pid in due_ids:
            self._watches[pid].polling = True
        task = asyncio.get_running_loop().create_task(self._poll(due_ids))
        self._poll_tasks.add(task)
        task.add_done_callback(self._poll_tasks.discard)

    async def _poll(self, ids: list[str]) -> None:
        """One polling round for `ids`: a list call when there are several, then GETs for the rest."""
        seen: dict[str, Prediction] = {}
        failed: dict[str, BaseException] = {}
        try:
            if len(ids) >= 2:
                try:
                    wanted = set(ids)
                    seen = {p.id: p for p in await self._list_recent() if p.id in wanted and _complete(p)}
                except ReplicateError as exc:
                    log.warning("polling: listing predictions failed: %s", exc)
                    failed = dict.fromkeys(ids, exc)
            rest = [pid for pid in ids if pid not in seen and pid not in failed and pid in self._watches]
            results = await asyncio.gather(*(self._get(pid) for pid in rest), return_exceptions=True)
            for pid, result in zip(rest, results):
                if isinstance(result, Prediction):
                    seen[pid] = result
                else:
                    failed[pid] = result
            for prediction in seen.values():
                self._update(prediction)
            for pid, exc in failed.items():
                self._poll_failed(pid, exc)
        except Exception:  # a bug here must not strand the waiters: log it and reschedule
            log.exception("polling round failed")
        finally:
            now = time.monotonic()
            for pid in ids:
                watch = self._watches.get(pid)
                if watch is not None:
                    watch.polling = False
                    watch.due = now + self._next_delay(watch, now)
            self._wake.set()

    def _first_due(self, expected_end: float | None, now: float) -> float:
        if self.webhook_grace is not None:
            return (expected_end or now) + self.webhook_grace  # the webhook gets its chance first
        return max(expected_end, now + self.tight_interval) if expected_end else now + self.interval

    def _next_delay(self, watch: _Watch, now: float) -> float:
        if watch.failures:
            delay = min(self.max_backoff, self.interval * 2 ** (watch.failures - 1))
        elif self.webhook_grace is None and self._in_tight_phase(watch, now):
            delay = self.tight_interval
        else:
            delay = self.interval
        return delay if self.webhook_grace is None else max(delay, self.webhook_grace)

    def _in_tight_phase(self, watch: _Watch, now: float) -> bool:
        """The first few polls after the expected end, when the answer is most likely, come quicker."""
        if watch.expected_end is None or now < watch.expected_end - self.tight_interval:
            return False
        watch.polls_after_expected += 1
        return watch.polls_after_expected <= self.tight_polls

    def _poll_failed(self, pid: str, exc: BaseException) -> None:
        watch = self._watches.get(pid)
        if watch is None:
            return
        if isinstance(exc, (PredictionNotFoundError, UnauthenticatedError)):
            self._finish(watch, error=exc)  # polling again cannot help
            return
        watch.failures += 1
        log.warning("polling prediction %s failed (%d in a row): %s", pid, watch.failures, exc)

    # -- state changes ----------------------------------------------------------------------------------

    def _update(self, prediction: Prediction) -> bool:
        watch = self._watches.get(prediction.id)
        if watch is None:
            if prediction.is_done:
                self._finished.add(prediction)  # its waiter may not have started watching yet
            return False
        watch.failures = 0
        if _progress(prediction) < _progress(watch.latest):
            return True  # an older state (webhooks and list pages can arrive out of order)
        changed = prediction.status != watch.latest.status
        watch.latest = prediction
        if changed:
            for waiter in list(watch.waiters):
                _notify(waiter.on_update, prediction)
        if prediction.is_done:
            self._finish(watch, result=prediction)
        return True

    def _finish(self, watch: _Watch, *, result: Prediction | None = None, error: BaseException | None = None) -> None:
        self._watches.pop(watch.latest.id, None)
        for waiter in watch.waiters:
            if not waiter.future.done():
                if error is not None:
                    waiter.future.set_exception(error)
                else:
                    waiter.future.set_result(result or watch.latest)
        watch.waiters.clear()

    def _forget(self, pid: str, waiter: _Waiter) -> None:
        watch = self._watches.get(pid)
        if watch is not None and waiter in watch.waiters:
            watch.waiters.remove(waiter)
            if not watch.waiters:
                del self._watches[pid]


def _progress(prediction: Prediction) -> int:
    """How far along a prediction is: starting (or unknown) 0, processing 1, output in 2, terminal 3."""
    if prediction.is_terminal:
        return 3
    if prediction.has_final_output:
        return 2
    return 1 if prediction.status == "processing" else 0


def _complete(prediction: Prediction) -> bool:
    """A list entry good enough to act on (a succeeded one must carry its output)."""
    return prediction.status != "succeeded" or "output" in prediction.raw


def _notify(callback: OnUpdate | None, prediction: Prediction) -> None:
    if callback is None:
        return
    try:
        callback(prediction)
    except Exception:  # a caller's callback must not break polling for everyone
        log.exception("on_update callback failed")
