"""The soak's two processes (emulator and app) and its audit: every prediction the emulator made,
held against what the app's history kept (benchmarks/soak.py puts them together)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from soak_visitors import Click

ROOT = Path(__file__).resolve().parent.parent
# How long after a visitor leaves a prediction may still finish without blame: the create's sync
# window (at most 2 s: the id is unknown until it answers), two Retry-After waits (1 s each) for a
# throttled cancel, Gradio noticing a dropped event stream (its stream loop looks at least every 10 s;
# the click sends nothing until the page has something new to show), margin.
CANCEL_GRACE = 16.0


# --- processes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStats:
    """One process at one moment (Linux /proc)."""

    rss_mb: float
    threads: int
    files: int  # regular files and devices: the log, SQLite's three, /dev/null...
    sockets: int  # listening socket, keep-alive connections (to visitors and to the API)
    other: int  # pipes, eventfd, epoll

    @property
    def fds(self) -> int:
        return self.files + self.sockets + self.other


def proc_stats(pid: int) -> ProcStats:
    status = Path(f"/proc/{pid}/status").read_text()
    values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    kinds: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed while we looked
            continue
        kinds["socket" if target.startswith("socket:") else
              "file" if target.startswith("/") else "other"] += 1
    return ProcStats(int(values["VmRSS"].split()[0]) / 1024, int(values["Threads"]),
                     kinds["file"], kinds["socket"], kinds["other"])


@dataclass(frozen=True)
class Stopped:
    seconds: float  # from SIGTERM to exit
    killed: bool  # it did not exit within the timeout and got SIGKILL
    returncode: int | None


class Child:
    """A subprocess of this repo's Python (`python -m imagen_ui.emulator`, `python app.py`)."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=log,
                                         stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                try:
                    if (await http.get(url)).status_code < 500:
                        return
                except httpx.HTTPError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(self.args[:2])} did not start; see {self.log_path}")
                await asyncio.sleep(0.1)

    def stop(self, timeout: float) -> Stopped:
        """SIGTERM (what systemd, docker stop and Spaces send), SIGKILL if it is still there later."""
        if self.proc.poll() is not None:
            return Stopped(0.0, False, self.proc.returncode)
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            return Stopped(time.monotonic() - started, False, self.proc.returncode)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return Stopped(time.monotonic() - started, True, self.proc.returncode)


# --- the audit -------------------------------------------------------------------------------------


@dataclass
class HistoryState:
    root: Path
    rows: dict[str, str]  # prediction id -> path relative to the history root
    files: set[str]  # image files under images/, relative to the root
    temp_files: list[str]  # leftovers of interrupted writes
    orphans: int  # files reconcile could not index

    @property
    def rows_without_file(self) -> list[str]:
        return sorted(set(self.rows.values()) - self.files)

    @property
    def files_without_row(self) -> list[str]:
        return sorted(self.files - set(self.rows.values()))


def read_history(root: Path) -> HistoryState:
    """The index (opened read-only: the app is still running) and the files on disk."""
    index = sqlite3.connect(f"file:{root / 'history.sqlite3'}?mode=ro", uri=True)
    try:
        rows = dict(index.execute("SELECT prediction_id, path FROM entries"))
    finally:
        index.close()
    files, temp = set(), []
    for folder, _, names in os.walk(root / "images"):
        for name in names:
            relative = Path(folder, name).relative_to(root).as_posix()
            if name.startswith(".tmp-"):
                temp.append(relative)
            elif name.lower().endswith((".png", ".jpg", ".jpeg")):
                files.add(relative)
    orphans = root / "orphans"
    return HistoryState(root, rows, files, temp, len(list(orphans.iterdir())) if orphans.is_dir() else 0)


def emulator_predictions(base: str) -> list[dict]:
    return httpx.get(f"{base}/_emulator/predictions", timeout=30).json()


def wall(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


@dataclass(frozen=True)
class Restart:
    term_at: float  # SIGTERM sent (wall clock)
    dead_at: float  # the old process is gone
    ready_at: float  # the new one answers
    stopped: Stopped


@dataclass
class Audit:
    """Every prediction the emulator made, sorted into what became of it."""

    created: int = 0
    succeeded: int = 0
    stored: int = 0  # succeeded and in the history
    excused: int = 0  # finished while its visitor was leaving (within CANCEL_GRACE): nobody to show it to
    lost: list[str] = field(default_factory=list)  # succeeded, click ran normally, not in the history
    lost_at_restart: list[str] = field(default_factory=list)  # succeeded, in flight across the restart
    ran_on_after_cancel: list[str] = field(default_factory=list)  # succeeded > CANCEL_GRACE after leaving
    running: list[str] = field(default_factory=list)  # still starting/processing
    unknown_prompt: list[str] = field(default_factory=list)  # made by no click of this run
    over_created: list[str] = field(default_factory=list)  # clicks with more predictions than images
    phantom_rows: list[str] = field(default_factory=list)  # history rows the emulator never succeeded
    shown_not_stored: list[str] = field(default_factory=list)  # shown to a visitor, not in the history
    # In the probe, by the visitor's plan: seconds from leaving until the prediction was "canceled".
    cancel_reach: dict[str, list[float]] = field(default_factory=dict)
    lost_before_term: int = 0  # of lost_at_restart: succeeded before SIGTERM (a draining stop keeps them)


def audit(clicks: list[Click], predictions: list[dict], history: HistoryState,
          restart: Restart | None) -> Audit:
    by_prompt = {click.prompt: click for click in clicks}
    result = Audit(created=len(predictions))
    per_click: Counter[str] = Counter()
    succeeded_ids = set()
    for prediction in predictions:
        click = by_prompt.get((prediction.get("input") or {}).get("prompt", ""))
        pid, status = prediction["id"], prediction["status"]
        if click is not None:
            per_click[click.tag] += 1
        if status in ("starting", "processing"):
            result.running.append(pid)
            continue
        completed = wall(prediction.get("completed_at"))
        if status == "canceled" and click is not None and click.left_at and click.phase == "probe":
            result.cancel_reach.setdefault(click.plan, []).append(completed - click.left_at)
        if status != "succeeded":
            continue
        result.succeeded += 1
        succeeded_ids.add(pid)
        if pid in history.rows:
            result.stored += 1
        elif click is None:
            result.unknown_prompt.append(pid)
        elif click.left_at is not None and completed <= click.left_at + CANCEL_GRACE:
            result.excused += 1
        elif restart is not None and _across(click, restart):
            result.lost_at_restart.append(pid)
            result.lost_before_term += completed < restart.term_at
        elif click.left_at is not None:
            result.ran_on_after_cancel.append(pid)
        else:
            result.lost.append(pid)
    result.over_created = [c.tag for c in clicks if per_click[c.tag] > c.images]
    result.phantom_rows = sorted(set(history.rows) - succeeded_ids)
    stored = {os.path.realpath(history.root / p) for p in history.rows.values()}
    result.shown_not_stored = [path for click in clicks for path in click.shown
                               if os.path.realpath(path) not in stored]
    return result


def _across(click: Click, restart: Restart) -> bool:
    """The click was in flight when the app got SIGTERM (and the visitor had not left before it)."""
    in_flight = click.started < restart.dead_at and (click.ended or time.time()) >= restart.term_at
    return in_flight and (click.left_at is None or click.left_at >= restart.term_at)
