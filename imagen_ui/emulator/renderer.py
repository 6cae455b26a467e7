"""Rendering off the event loop: a thread pool plus a bounded LRU (cachetools) of results by request
inputs, bounded in entries and in bytes (photo-sized files are megabytes each)."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from cachetools import LRUCache

from . import photo
from .images import ImageSpec, RenderedImage, render

MAX_CACHED_BYTES = 256 * 1024 * 1024  # about ten 4K PNGs, or a hundred 1K PNGs (offline mode runs in the app)


class Renderer:
    """Starts renders in threads and shares them: identical specs render once while cached.

    `small_images` draws the flat placeholders (tens of KB, for tests that do not care about
    bytes); otherwise files are photo-sized (see `photo`). Used from the emulator's event loop
    thread only, so the cache needs no lock.
    """

    def __init__(self, max_entries: int = 256, workers: int | None = None, *, small_images: bool = False,
                 max_bytes: int = MAX_CACHED_BYTES) -> None:
        # Small images: one thread; measured on 2 cores, a second one added no throughput (64
        # images take ~0.6 s either way; that drawing is mostly GIL-bound) but lengthened the event
        # loop's waits. Photo-sized ones: two; their numpy, zlib and JPEG work runs without the GIL
        # (64 mixed 1K images + downloads, emulator_throughput: worst warm 1.76 -> 1.47x latency).
        workers = workers or (1 if small_images else 2)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emulator-render")
        self._cache: LRUCache[ImageSpec, asyncio.Future[RenderedImage]] = LRUCache(maxsize=max_entries)
        self._max_bytes = max_bytes
        self._draw: Callable[[ImageSpec], RenderedImage] = render if small_images else photo.render
        self._stats_lock = threading.Lock()
        self._drawn, self._seconds, self._busy_until, self._busy = 0, 0.0, 0.0, 0.0

    def stats(self) -> dict[str, float]:
        """Images drawn, their summed draw time, and the wall time at least one draw was running."""
        with self._stats_lock:
            return {"images": self._drawn, "seconds": round(self._seconds, 4), "busy_seconds": round(self._busy, 4)}

    def _timed(self, spec: ImageSpec) -> RenderedImage:
        started = time.perf_counter()
        try:
            return self._draw(spec)
        finally:
            ended = time.perf_counter()
            with self._stats_lock:
                self._drawn += 1
                self._seconds += ended - started
                self._busy += max(0.0, ended - max(started, self._busy_until))  # overlaps count once
                self._busy_until = max(self._busy_until, ended)

    def render(self, spec: ImageSpec) -> asyncio.Future[RenderedImage]:
        """A future for the image; starts rendering now unless a usable one is cached."""
        future = self._cache.get(spec)  # a hit counts as use
        if future is not None and not _failed(future):
            return future
        future = self._cache[spec] = asyncio.get_running_loop().run_in_executor(self._pool, self._timed, spec)
        self._evict()
        return future

    def _evict(self) -> None:
        """Least recently used first, down to the byte bound (counting finished renders); the
        newest entry always stays. An evicted future still reaches whoever awaits it."""
        cached = sum(len(f.result().data) for f in self._cache.values() if f.done() and not _failed(f))
        while len(self._cache) > 1 and cached > self._max_bytes:
            _, oldest = self._cache.popitem()
            if oldest.done() and not _failed(oldest):
                cached -= len(oldest.result().data)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _failed(future: asyncio.Future[RenderedImage]) -> bool:
    return future.cancelled() or (future.done() and future.exception() is not None)
