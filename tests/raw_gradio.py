"""Gradio's own HTTP protocol, spoken by hand, as an attacker (or the page's JavaScript) would.

gradio_client only calls the events the API page lists; the page calls the others (Check a token,
drop an image to reuse its settings) by their index in /config, and so can anyone: these helpers
do what the page does, with whatever data a test chooses.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx


def config(url: str, **headers: str) -> dict[str, Any]:
    return httpx.get(f"{url}config", headers=headers, timeout=10).json()


def event_index(cfg: dict[str, Any], elem_id: str, trigger: str, *, nth: int = 0) -> tuple[int, int]:
    """(fn_index, trigger id) of the `nth` event the page wires to `trigger` on #elem_id."""
    ids = [c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == elem_id]
    if not ids:
        raise LookupError(f"no component #{elem_id}")
    found = [(index, ids[0]) for index, dep in enumerate(cfg["dependencies"])
             if [ids[0], trigger] in [list(t) for t in dep["targets"]]]
    found = [(dep_index, target) for dep_index, target in found
             if cfg["dependencies"][dep_index].get("backend_fn", True)]
    if len(found) <= nth:
        raise LookupError(f"no {trigger} event #{nth} on #{elem_id}")
    return found[nth]


def component_id(cfg: dict[str, Any], elem_id: str) -> int:
    return next(c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == elem_id)


def upload(url: str, name: str, data: bytes, **headers: str) -> dict[str, Any]:
    """POST /gradio_api/upload, as a File component does; the FileData to pass as its value."""
    answer = httpx.post(f"{url}gradio_api/upload", files={"files": (name, data)}, headers=headers, timeout=60)
    answer.raise_for_status()
    path = answer.json()[0]
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def call(url: str, fn_index: int, data: list[Any], *, trigger_id: int | None = None,
         session_hash: str | None = None, timeout: float = 30.0, **headers: str) -> dict[str, Any]:
    """Join the queue with `data` for event `fn_index` and read the stream to its end.
    Returns the last message: {"success": bool, "output": {...}} (plus "msg", "title" on errors)."""
    session_hash = session_hash or uuid.uuid4().hex[:11]
    with httpx.Client(timeout=timeout, headers=headers) as http:
        joined = http.post(f"{url}gradio_api/queue/join", json={
            "data": data, "event_data": None, "fn_index": fn_index, "trigger_id": trigger_id,
            "session_hash": session_hash})
        joined.raise_for_status()
        with http.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") in ("process_completed", "unexpected_error"):
                    return message
    raise RuntimeError("the stream ended without a result")


class Session:
    """One browser session's queue: join events, listen to the stream, cancel as the Stop button does."""

    def __init__(self, url: str, **headers: str) -> None:
        self.url = url
        self.session_hash = uuid.uuid4().hex[:11]
        self.http = httpx.Client(timeout=30, headers=headers)
        self.messages: list[dict[str, Any]] = []
        self._listener = None

    def join(self, fn_index: int, data: list[Any], *, trigger_id: int | None = None) -> str:
        joined = self.http.post(f"{self.url}gradio_api/queue/join", json={
            "data": data, "event_data": None, "fn_index": fn_index, "trigger_id": trigger_id,
            "session_hash": self.session_hash})
        joined.raise_for_status()
        if self._listener is None or not self._listener.is_alive():  # the stream closes when idle
            import threading

            self._listener = threading.Thread(target=self._listen, daemon=True)
            self._listener.start()
        return joined.json()["event_id"]

    def cancel(self, fn_index: int, event_id: str) -> None:
        self.http.post(f"{self.url}gradio_api/cancel", json={
            "event_id": event_id, "session_hash": self.session_hash, "fn_index": fn_index}).raise_for_status()

    def close(self) -> None:
        self.http.close()

    def _listen(self) -> None:
        try:
            with httpx.stream("GET", f"{self.url}gradio_api/queue/data", headers=self.http.headers,
                              params={"session_hash": self.session_hash}, timeout=None) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        self.messages.append(json.loads(line[5:]))
        except httpx.HTTPError:
            return


def result(session: Session, event_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The last message of `event_id` on `session`'s stream (its process_completed)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(session.messages):
            if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                return message
        time.sleep(0.05)
    raise TimeoutError(f"no result for {event_id} within {timeout} s")
