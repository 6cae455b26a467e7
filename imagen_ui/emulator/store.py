"""Predictions in memory: the record, its API shape, paging, and data removal after retention.

Mutated on the server's event loop and read from test threads, so every read and write of a
prediction's fields goes through the store's lock.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .images import ImageSpec

TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
PAGE_SIZE = 100


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(eq=False)
class Prediction:
    id: str
    seq: int  # creation order: paging cursors point at it
    model: str
    version: str
    input: dict[str, Any]
    images: tuple[ImageSpec, ...]  # what the output files are drawn from; empty once data is removed
    base_url: str
    webhook: str | None
    webhook_events: frozenset[str]
    output_is_list: bool  # the model's Output schema is an array: output is a list of URLs
    created_at: float
    deadline: float | None = None
    status: str = "starting"
    started_at: float | None = None
    completed_at: float | None = None
    output: Any = None
    logs: str = ""
    error: str | None = None
    data_removed: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_api(self) -> dict[str, Any]:
        url = f"{self.base_url}/v1/predictions/{self.id}"
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": copy.deepcopy(self.input),
            "logs": self.logs,
            "output": copy.deepcopy(self.output),
            "data_removed": self.data_removed,
            "error": self.error,
            "source": "api",
            "status": self.status,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "urls": {"cancel": f"{url}/cancel", "get": url, "web": f"{self.base_url}/p/{self.id}"},
        }
        if self.deadline is not None:
            body["deadline"] = iso(self.deadline)
        if self.completed_at is not None:
            started = self.started_at if self.started_at is not None else self.completed_at
            body["metrics"] = {
                "predict_time": round(self.completed_at - started, 6),
                "total_time": round(self.completed_at - self.created_at, 6),
            }
        return body


class Store:
    def __init__(self, retention: float, seed: int | None = None) -> None:
        self.retention = retention
        self._lock = threading.RLock()
        self._by_id: dict[str, Prediction] = {}
        self._order: list[Prediction] = []  # oldest first; index == seq
        self._completed: deque[Prediction] = deque()  # completion order: what expires next
        self._ids = random.Random(seed) if seed is not None else None

    def add(self, **fields: Any) -> Prediction:
        with self._lock:
            pid = self._new_id()
            while pid in self._by_id:
                pid = self._new_id()
            prediction = Prediction(id=pid, seq=len(self._order), created_at=time.time(), **fields)
            self._by_id[pid] = prediction
            self._order.append(prediction)
            return prediction

    def _new_id(self) -> str:
        """26 lowercase base32 characters, like Replicate's ids; one random draw (cheap under load)."""
        raw = os.urandom(16) if self._ids is None else self._ids.getrandbits(128).to_bytes(16, "big")
        return base64.b32encode(raw).decode().lower()[:26]

    def get(self, pid: str) -> Prediction | None:
        self.expire()
        with self._lock:
            return self._by_id.get(pid)

    def file(self, pid: str, name: str) -> ImageSpec | None:
        """The output file `name` of prediction `pid`, while it is served (succeeded, not yet removed)."""
        self.expire()
        with self._lock:
            prediction = self._by_id.get(pid)
            if prediction is None or prediction.status != "succeeded":
                return None
            return next((spec for spec in prediction.images if spec.file_name == name), None)

    def render(self, prediction: Prediction) -> dict[str, Any]:
        self.expire()
        with self._lock:
            return prediction.to_api()

    def snapshot(self) -> list[dict[str, Any]]:
        """Every prediction as the API would serve it, newest first."""
        self.expire()
        with self._lock:
            return [p.to_api() for p in reversed(self._order)]

    def page(self, cursor: tuple[str, int] | None) -> tuple[list[dict[str, Any]], int | None, int | None]:
        """One page newest first, plus the seq cursors for the older and newer neighbour pages."""
        self.expire()
        with self._lock:
            end = len(self._order)
            if cursor is None:
                stop = end
            elif cursor[0] == "older":
                stop = min(max(cursor[1], 0), end)
            else:  # "newer": the PAGE_SIZE predictions just after cursor[1]
                stop = min(max(cursor[1] + 1, 0) + PAGE_SIZE, end)
            start = max(0, stop - PAGE_SIZE)
            chunk = self._order[start:stop]
            results = [p.to_api() for p in reversed(chunk)]
            older = start if start > 0 else None
            newer = stop - 1 if stop < end else None
            return results, older, newer

    def set_images(self, prediction: Prediction, images: tuple[ImageSpec, ...]) -> None:
        """The specs its files are drawn from, once its input images are known."""
        with self._lock:
            if not prediction.data_removed:
                prediction.images = images

    def running(self) -> list[Prediction]:
        with self._lock:
            return [p for p in self._order if not p.terminal]

    def start(self, prediction: Prediction) -> bool:
        with self._lock:
            if prediction.status != "starting":
                return False
            prediction.status = "processing"
            prediction.started_at = time.time()
            return True

    def finish(self, prediction: Prediction, status: str, *, output: Any = None,
               logs: str | None = None, error: str | None = None) -> bool:
        """Move to a terminal status once; later calls (a cancel after success...) change nothing."""
        with self._lock:
            if prediction.terminal:
                return False
            now = time.time()
            prediction.status = status
            prediction.completed_at = now
            if prediction.started_at is None:
                prediction.started_at = now  # as Replicate reports a prediction canceled while starting
            prediction.output = output
            prediction.error = error
            if logs is not None:
                prediction.logs = logs
            self._completed.append(prediction)
        prediction.done.set()
        self.expire()
        return True

    def expire(self, now: float | None = None) -> None:
        """Remove input, output, logs and file of predictions completed more than `retention` ago."""
        now = time.time() if now is None else now
        with self._lock:
            while self._completed and self._completed[0].completed_at + self.retention <= now:
                prediction = self._completed.popleft()
                prediction.data_removed = True
                prediction.input = {}
                prediction.output = None
                prediction.logs = ""
                prediction.images = ()
