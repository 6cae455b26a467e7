"""Every request the emulator received, in arrival order, for tests to inspect."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes  # the first megabyte of it
    query: str = ""
    size: int = 0  # the body's full size in bytes


class RequestLog:
    def __init__(self) -> None:
        self._items: list[RecordedRequest] = []
        self._lock = threading.Lock()  # appended on the loop, read from test threads

    def add(self, request: RecordedRequest) -> None:
        with self._lock:
            self._items.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def count(self, method: str | None, path_prefix: str = "") -> int:
        wanted = None if method in (None, "*") else method.upper()
        return sum(
            1 for r in self.snapshot() if (wanted is None or r.method == wanted) and r.path.startswith(path_prefix)
        )
