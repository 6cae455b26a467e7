"""The soak's simulated visitors: browser tabs on the playground, driven from one asyncio loop.

A visitor speaks Gradio's plain HTTP API as the page does: a heartbeat stream per page session
(dropping it is closing the tab: Gradio then runs the page's unload handler), and per click
`POST /gradio_api/call/generate` followed by its event stream. Stop is `POST /gradio_api/cancel` with
the event id, the session hash and the event's fn_index: what gradio_client's Job.cancel sends.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CLICK_TIMEOUT = 90.0  # a click with no answer by then is a hang, not a slow image
CANCEL_ANSWER_TIMEOUT = 15.0  # after Stop, the click's stream must end within this
WORDS = ("lighthouse", "fox", "harbour", "lantern", "glacier", "bakery", "robot", "orchard", "comet",
         "tram", "heron", "canyon", "teapot", "violin", "meadow", "castle")
ASPECTS = ("1:1", "3:4", "4:3", "9:16", "16:9")
SAFETY = ("block_low_and_above", "block_medium_and_above", "block_only_high")
_FAILED_LINE = re.compile(r"\*\*Image (\d+)\*\*: failed: (.*)")

# The app's messages (imagen_ui/messages.py) by a phrase each; the first match wins.
MESSAGE_KINDS = (
    ("safety filter blocked", "safety filter (E005)"),
    ("server error while the image was being requested", "server error on create (5xx)"),
    ("rate-limiting", "rate limited (429)"),
    ("had a server error", "server error (5xx)"),
    ("connection to Replicate broke", "connection broke on create"),
    ("Could not reach Replicate", "network"),
    ("took too long", "timeout"),
    ("could not be downloaded", "download failed"),
    ("The model failed", "model failed"),
    ("stopped this prediction", "aborted"),
    ("Something went wrong on our side", "unexpected (app bug)"),
    ("unhandled exception", "unexpected (app bug)"),
    ("Number of images must be", "invalid input"),
)


def message_kind(text: str) -> str:
    for phrase, kind in MESSAGE_KINDS:
        if phrase in text:
            return kind
    return f"other: {text[:60]}"


def _is_image_of(click: Click, path: str) -> bool:
    """Is this stored file one of `click`'s images? Its tag is in the file name."""
    return click.tag.lower().replace(" ", "-") in Path(path).name


def _gallery_path(item: dict) -> str:
    return str((item.get("image") or {}).get("path") or "")


def _carries_images_of(click: Click, event: str, data: object) -> bool:
    """Is this an update or result showing `click`'s images, and only those?"""
    if event not in ("generating", "complete") or not isinstance(data, list) or not data:
        return False
    gallery = data[0] or []
    return bool(gallery) and all(_is_image_of(click, _gallery_path(item)) for item in gallery)


@dataclass
class Click:
    """One press of Generate, as the visitor saw it. Times are wall clock, like the emulator's."""

    visitor: int
    tag: str  # starts the prompt, and so the stored file's name: which click an image belongs to
    session: str
    prompt: str
    images: int
    plan: str  # wait | cancel | close | close_tab
    started: float
    phase: str = "main"  # main | probe
    left_at: float | None = None  # when the visitor pressed Stop or dropped the stream
    ended: float | None = None
    outcome: str = ""  # complete | error | cancelled | closed | transport | timeout | empty
    error: str | None = None  # the click-level message
    status: str = ""  # the last status lines the page showed
    shown: list[str] = field(default_factory=list)  # paths of the images shown
    problems: list[str] = field(default_factory=list)  # broken promises the visitor saw

    def end(self, outcome: str, error: str | None = None) -> None:
        self.outcome, self.error, self.ended = outcome, error, time.time()

    @property
    def failures(self) -> list[str]:
        """The per-image failure messages of the last status the page showed."""
        lines = self.status.split("\n\n")
        return [html.unescape(m.group(2)) for m in map(_FAILED_LINE.match, lines) if m]


class AppApi:
    """Where the app is, and the fn_index its cancel route needs for /generate."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.api = f"{base}/gradio_api"
        self.fn_index: int | None = None

    async def learn(self, http: httpx.AsyncClient) -> None:
        config = (await http.get(f"{self.base}/config")).json()
        self.fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "generate")


class Visitor:
    """One browser tab: a page session with its heartbeat, clicking Generate now and then."""

    def __init__(self, index: int, app: AppApi, http: httpx.AsyncClient, rng: random.Random,
                 run_id: str) -> None:
        self.index, self.app, self.http, self.rng, self.run_id = index, app, http, rng, run_id
        self.clicks: list[Click] = []
        self.busy = False
        self._pages = 0
        self._session = ""
        self._heartbeat: asyncio.Task | None = None
        # Over the /call API (no event ids in the stream) a session's next stream can carry
        # messages of its previous click: the "complete" Gradio's cancel route queues even when the
        # event has just completed by itself, and the last updates of a click whose stream was
        # dropped before they were sent. A browser filters by event id; we skip them.
        self._leftovers_of: Click | None = None

    def open_page(self) -> None:
        self._pages += 1
        self._session = f"soak-{self.run_id}-v{self.index:02d}-p{self._pages}"
        self._leftovers_of = None
        self._heartbeat = asyncio.create_task(self._keep_alive(self._session))

    async def close_page(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None

    async def run(self, until: float, gate: asyncio.Event, plans: dict[str, float],
                  leave_after: tuple[float, float], think: tuple[float, float]) -> None:
        """Click until `until` (monotonic), waiting whenever `gate` is closed."""
        self.open_page()
        try:
            while True:
                await gate.wait()
                if time.monotonic() >= until:
                    return
                plan = self.rng.choices(list(plans), weights=list(plans.values()))[0]
                self.busy = True
                try:
                    click = await self.click(plan, self.rng.uniform(*leave_after))
                finally:
                    self.busy = False
                if click.outcome == "transport":
                    await asyncio.sleep(0.5)  # the app is restarting: try again shortly, as a person would
                await asyncio.sleep(self.rng.uniform(*think))
        finally:
            await self.close_page()

    async def click(self, plan: str, leave_after: float, phase: str = "main") -> Click:
        """One Generate click; for cancel/close plans the visitor leaves `leave_after` s in."""
        if self._heartbeat is None:
            self.open_page()
        tag = f"v{self.index:02d} c{len(self.clicks) + 1:04d} {self.run_id}"
        subject = " ".join(self.rng.sample(WORDS, 3))
        click = Click(self.index, tag, self._session, f"{tag}: a {subject}, soft morning light",
                      self.rng.randint(1, 4), plan, time.time(), phase)
        self.clicks.append(click)
        data = [click.prompt, self.rng.choice(ASPECTS), self.rng.choice(("jpg", "png")),
                self.rng.choice(SAFETY), click.images]
        try:
            answer = await self.http.post(f"{self.app.api}/call/generate",
                                          json={"data": data, "session_hash": self._session})
        except httpx.HTTPError as exc:
            click.end("transport", f"app unreachable ({type(exc).__name__})")
            return click
        if answer.status_code != 200:
            click.end("transport", f"HTTP {answer.status_code} on submit")
            return click
        event_id = answer.json()["event_id"]
        events: asyncio.Queue = asyncio.Queue()
        reader = asyncio.create_task(self._read(f"{self.app.api}/call/generate/{event_id}", events))
        stale, self._leftovers_of = self._leftovers_of, None
        try:
            await self._follow(click, event_id, events, leave_after, reader, stale)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        # Stop raced the click's own end, or its stream was dropped: its last messages may wait
        # in the session's queue.
        raced = click.plan == "cancel" and click.outcome in ("complete", "error")
        self._leftovers_of = click if raced or click.outcome == "closed" else None
        if click.plan == "close_tab" and click.outcome == "closed":
            await self.close_page()  # the tab is gone: Gradio runs unload for its session
            self.open_page()  # and the visitor comes back in a new one
        return click

    async def _follow(self, click: Click, event_id: str, events: asyncio.Queue, leave_after: float,
                      reader: asyncio.Task, stale: Click | None) -> None:
        deadline = time.monotonic() + CLICK_TIMEOUT
        leave = time.monotonic() + leave_after if click.plan != "wait" else None
        while True:
            wake = deadline if leave is None else min(deadline, leave)
            try:
                event, data = await asyncio.wait_for(events.get(), max(0.0, wake - time.monotonic()))
            except TimeoutError:
                if leave is None or time.monotonic() < leave:
                    click.end("timeout", f"no answer within {CLICK_TIMEOUT:g} s")
                    return
                leave, click.left_at = None, time.time()
                if click.plan != "cancel":
                    reader.cancel()  # dropping the event stream: what a closed tab or lost client does
                    click.end("closed")
                    return
                await self._cancel(click, event_id)
                deadline = time.monotonic() + CANCEL_ANSWER_TIMEOUT
                continue
            if event == "heartbeat":
                continue
            if stale is not None and _carries_images_of(stale, event, data):
                continue  # the dropped click's last updates, whenever they come
            if stale is not None and event == "complete" and data is None and not click.left_at:
                stale = None  # the cancel route's stale completion comes first, if at all
                continue
            if await self._take(click, event, data):
                return

    async def _cancel(self, click: Click, event_id: str) -> None:
        body = {"event_id": event_id, "session_hash": click.session, "fn_index": self.app.fn_index}
        try:
            answer = await self.http.post(f"{self.app.api}/cancel", json=body)
            if answer.status_code != 200:
                click.problems.append(f"cancel answered HTTP {answer.status_code}")
        except httpx.HTTPError as exc:
            click.problems.append(f"cancel failed: {type(exc).__name__}")

    async def _take(self, click: Click, event: str, data: object) -> bool:
        """Handle one event of the click's stream; True once the click has ended."""
        if event == "generating" and isinstance(data, list) and len(data) > 1:
            click.status = str(data[1] or "")
        elif event == "complete" and data is None:  # what Gradio's cancel route sends
            if click.left_at:
                click.end("cancelled")
            else:
                click.end("empty", "the click ended with neither a result nor an error")
        elif event == "complete":
            gallery, click.status = data[0] or [], str(data[1] or "")
            await self._check_shown(click, gallery)
            click.end("complete")
        elif event == "error" and isinstance(data, dict):
            click.end("error", data.get("error") or "an error with no message (unhandled exception)")
        elif event == "error":  # Gradio's own, e.g. "Server stopped unexpectedly."
            click.end("transport", f"Gradio: {data}")
        elif event == "eof" and click.left_at:
            click.end("cancelled")
        elif event in ("broken", "http", "eof"):
            click.end("transport", {"broken": f"event stream broke ({data})",
                                    "eof": "event stream ended without a result",
                                    "http": f"HTTP {data} on event stream"}[event])
        return click.ended is not None

    async def _check_shown(self, click: Click, gallery: list) -> None:
        """The design's promise: a shown image is already on disk in the history, and served."""
        for position, item in enumerate(gallery):
            image, path = item.get("image") or {}, _gallery_path(item)
            if image.get("mime_type") == "image/svg+xml":
                continue  # a failed image's numbered placeholder tile (ui/tiles.py): no file is promised
            click.shown.append(path)
            if not os.path.isfile(path):
                click.problems.append(f"shown image not on disk: {path}")
            if not _is_image_of(click, path):
                click.problems.append(f"shown image of another click: {path}")
            if position == 0:  # one fetch per click, as the browser does: enough to prove serving
                try:
                    answer = await self.http.get(image.get("url") or "")
                    if answer.status_code != 200 or not answer.content:
                        click.problems.append(f"shown image not served (HTTP {answer.status_code})")
                except httpx.HTTPError as exc:
                    click.problems.append(f"shown image not served ({type(exc).__name__})")

    async def _read(self, url: str, events: asyncio.Queue) -> None:
        """The click's event stream into `events`; cancelling this task drops the connection."""
        try:
            async with self.http.stream("GET", url) as response:
                if response.status_code != 200:
                    events.put_nowait(("http", response.status_code))
                    return
                event = None
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        events.put_nowait((event, json.loads(line[5:])))
            events.put_nowait(("eof", None))
        except httpx.HTTPError as exc:
            events.put_nowait(("broken", type(exc).__name__))

    async def _keep_alive(self, session: str) -> None:
        """The page's heartbeat stream; reconnects while the app restarts, as the page does."""
        while True:
            try:
                async with self.http.stream("GET", f"{self.app.api}/heartbeat/{session}",
                                            timeout=httpx.Timeout(5.0, read=None)) as response:
                    async for _ in response.aiter_raw():
                        pass
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
