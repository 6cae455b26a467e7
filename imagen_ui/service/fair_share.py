"""Fair share of the app's predictions in flight and of the account's create rate: round-robin across
visitors, not first come, first served.

Every prediction takes a turn from one `FairQueue`: a slot (at most `slots` in flight, all visitors
together) and a create token from the account's pace. Waiting predictions queue in a lane per visitor
(`lane_of`: their network address when it is known, else their browser), and each free turn goes to
the lane at the front, which then moves to the back. A flood from one visitor (or one address) thus
fills its own lane only: another visitor's single image takes the next free turn, so it waits at most
about one model run longer than on a quiet app (it waited 67 s behind 288 of a flood before).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence

from imagen_ui.replicate.pacing import TokenBucket

__all__ = ["FairQueue", "lane_of"]

ADDRESS_PREFIX = "ip:"


def lane_of(keys: Sequence[str]) -> str:
    """The lane of a visitor known by quota keys ("v:<browser>", "ip:<address>"): the address when
    there is one (one lane for a flood from one address, whatever cookies it sends), else the first key."""
    return next((key for key in keys if key.startswith(ADDRESS_PREFIX)), keys[0] if keys else "")


class FairQueue:
    """`slots` turns at once; `pace` (optional) spaces the turns' starts. Use `async with queue.turn(lane)`."""

    def __init__(self, slots: int, pace: TokenBucket | None = None) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self._free = slots
        self._pace = pace
        self._lanes: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def waiting(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    @property
    def busy(self) -> int:
        return self.slots - self._free

    @contextlib.asynccontextmanager
    async def turn(self, lane: str) -> AsyncIterator[None]:
        """Wait for this lane's turn, hold a slot for the body, free it after (also on cancel)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._lanes.setdefault(lane, deque()).append(future)
        self._dispatch()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted just as it was cancelled
                self._release()
            else:
                self._forget(lane, future)
            raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        self._free += 1
        self._dispatch()

    def _forget(self, lane: str, future: asyncio.Future[None]) -> None:
        queue = self._lanes.get(lane)
        if queue is not None:
            with contextlib.suppress(ValueError):
                queue.remove(future)
            if not queue:
                del self._lanes[lane]

    def _dispatch(self) -> None:
        """Hand free slots to the front lanes in turn, as fast as the pace allows."""
        while self._free > 0 and self._lanes:
            lane, queue = next(iter(self._lanes.items()))
            while queue and queue[0].done():  # cancelled while waiting
                queue.popleft()
            if not queue:
                del self._lanes[lane]
                continue
            wait = self._pace.try_take() if self._pace is not None else 0.0
            if wait > 0:
                if self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(wait, self._on_timer)
                return
            future = queue.popleft()
            del self._lanes[lane]
            if queue:
                self._lanes[lane] = queue  # to the back: the other lanes go first
            self._free -= 1
            future.set_result(None)

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()
