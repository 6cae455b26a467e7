"""Rendering off the event loop: a thread pool plus a bounded LRU (cachetools) of results by request inputs."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from cachetools import LRUCache

from .images import ImageSpec, RenderedImage, render


class Renderer:
    """Starts renders in threads and shares them: identical specs render once while cached.

    Used from the emulator's event loop thread only, so the cache needs no lock.
    """

    def __init__(self, max_entries: int = 256, workers: int = 1) -> None:
        # One thread: measured on 2 cores, a second one added no throughput (64 images take
        # ~0.6 s either way; rendering is mostly GIL-bound) but lengthened the event loop's waits.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emulator-render")
        self._cache: LRUCache[ImageSpec, asyncio.Future[RenderedImage]] = LRUCache(maxsize=max_entries)

    def render(self, spec: ImageSpec) -> asyncio.Future[RenderedImage]:
        """A future for the image; starts rendering now unless a usable one is cached."""
        future = self._cache.get(spec)  # a hit counts as use
        if future is not None and not _failed(future):
            return future
        future = self._cache[spec] = asyncio.get_running_loop().run_in_executor(self._pool, render, spec)
        return future

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _failed(future: asyncio.Future[RenderedImage]) -> bool:
    return future.cancelled() or (future.done() and future.exception() is not None)
