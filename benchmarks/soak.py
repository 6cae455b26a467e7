"""Soak: 20 visitors use /generate for minutes against a faulty Replicate, the app restarts once in the
middle, and in the end nothing may be lost.

    python benchmarks/soak.py [--minutes 3] [--visitors 20] [--latency 1.0] [--fail-rate 0.3] [--seed 1]

The emulator (`python -m imagen_ui.emulator --fail-rate F`: 429 with Retry-After, 5xx, E005) and the app
(`python app.py --api-base …`) run as their own processes. Visitors (soak_visitors) click Generate for
1-4 images; some press Stop mid-run, some drop the event stream, some close the tab. Halfway the app
gets SIGTERM and is started again on the same history. Then a cancel probe: the model's run time is
raised far above any cancel path and every visitor leaves a fresh click, so a cancel that never reaches
Replicate shows as a prediction still running after the settle time. Last, the audit (soak_lib) holds
every prediction the emulator made against the history's index and files.

Prints the figures (soak_report) and exits 1 when a must-be-0 figure is not 0, or when the app process
grew beyond its allowance between two quiet moments of the same process life.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import secrets
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from soak_lib import (
    Child,
    ProcStats,
    Restart,
    Stopped,
    audit,
    emulator_predictions,
    proc_stats,
    read_history,
)
from soak_report import STOP_TIMEOUT, Life, Report, read_app_logs
from soak_visitors import CLICK_TIMEOUT, AppApi, Visitor

TOKEN = "r8_soak"
# The probe's settle ends as soon as nothing runs; its bound leaves room for a cancel retried with
# backoff and stays far below the probe's model run time, so a cancel that never arrives still shows.
PROBE_SETTLE = 20.0
PROBE_LATENCY = 60.0


@dataclass
class Config:
    minutes: float = 3.0
    visitors: int = 20
    latency: float = 1.0  # the model's run time in the main phase
    fail_rate: float = 0.3
    seed: int = 1
    restart: bool = True
    workdir: Path | None = None  # logs and history; a new temporary directory (kept) when None
    plans: dict[str, float] = field(default_factory=lambda: {
        "wait": 0.70, "cancel": 0.15, "close": 0.08, "close_tab": 0.07})

    @classmethod
    def short(cls, workdir: Path | None = None) -> Config:
        """The CI version: about a minute in all."""
        return cls(minutes=0.5, latency=0.5, workdir=workdir)


class Soak:
    def __init__(self, config: Config, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.history_dir = workdir / "history"
        self.emulator_port = _free_port()
        self.emulator_base = f"http://127.0.0.1:{self.emulator_port}"
        self.app_port = _free_port()
        self.api = AppApi(f"http://127.0.0.1:{self.app_port}")
        self.gate = asyncio.Event()  # closed while a quiet moment is measured
        self.gate.set()
        self.app: Child | None = None
        self.app_logs: list[Path] = []
        self.lives: list[Life] = []
        self.stops: list[Stopped] = []
        self.restart: Restart | None = None

    async def run(self) -> Report:
        c = self.config
        started = time.monotonic()
        emulator = Child(["-m", "imagen_ui.emulator", "--port", str(self.emulator_port), "--latency",
                          str(c.latency), "--fail-rate", str(c.fail_rate), "--seed", str(c.seed)],
                         self.workdir / "emulator.log")
        try:
            await emulator.wait_ready(f"{self.emulator_base}/_emulator/predictions")  # no faults there
            await self._start_app()
            limits = httpx.Limits(max_connections=c.visitors * 8, max_keepalive_connections=c.visitors * 4)
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0), limits=limits) as http:
                await self.api.learn(http)
                run_id = secrets.token_hex(2)
                visitors = [Visitor(i, self.api, http, random.Random(c.seed * 1000 + i), run_id)
                            for i in range(c.visitors)]
                await self._main_phase(visitors, http)
                await self._settle(15.0)
                await self._probe(visitors, http)
                self.lives[-1].after = await self._quiet_moment(visitors)
                predictions = emulator_predictions(self.emulator_base)
                history = read_history(self.history_dir)
                clicks = [click for v in visitors for click in v.clicks]
                _dump(self.workdir, clicks, predictions)
        finally:
            if self.app is not None:
                self.stops.append(await asyncio.to_thread(self.app.stop, STOP_TIMEOUT))
            await asyncio.to_thread(emulator.stop, STOP_TIMEOUT)
        return Report(c, time.monotonic() - started, clicks, audit(clicks, predictions, history, self.restart),
                      history, self.restart, self.lives, self.stops, *read_app_logs(self.app_logs), self.workdir)

    async def _start_app(self) -> None:
        log = self.workdir / f"app-{len(self.app_logs) + 1}.log"
        self.app_logs.append(log)
        self.app = Child(["app.py", "--api-base", self.emulator_base, "--port", str(self.app_port),
                          "--history-dir", str(self.history_dir)], log,
                         env={"REPLICATE_API_TOKEN": TOKEN, "GRADIO_ANALYTICS_ENABLED": "False",
                              "HF_HUB_OFFLINE": "1", "GRADIO_TEMP_DIR": str(self.workdir / "gradio"),
                              "PYTHONUNBUFFERED": "1"})
        await self.app.wait_ready(f"{self.api.base}/")

    async def _main_phase(self, visitors: list[Visitor], http: httpx.AsyncClient) -> None:
        c = self.config
        start = time.monotonic()
        duration = c.minutes * 60
        warm_up = min(10.0, duration * 0.15)  # imports, pools and caches fill during the first clicks
        leave_after = (0.1, 2.5 * c.latency)  # before the create has answered, and after
        tasks = [asyncio.create_task(v.run(start + duration, self.gate, c.plans, leave_after, (0.2, 1.5)))
                 for v in visitors]
        await asyncio.sleep(warm_up)
        self.lives.append(Life("life 1", await self._quiet_moment(visitors)))
        if c.restart:
            await asyncio.sleep(max(0.0, start + duration / 2 - time.monotonic()))
            self.lives[-1].after = await self._quiet_moment(visitors)
            await asyncio.sleep(0.2 + 0.6 * c.latency)  # clicks are in flight again: SIGTERM hits them
            await self._restart(http)
            await asyncio.sleep(warm_up)
            self.lives.append(Life("life 2", await self._quiet_moment(visitors)))
        await asyncio.gather(*tasks)

    async def _restart(self, http: httpx.AsyncClient) -> None:
        term_at = time.time()
        stopped = await asyncio.to_thread(self.app.stop, STOP_TIMEOUT)
        self.stops.append(stopped)
        dead_at = time.time()
        await asyncio.sleep(1.0)  # down for a moment, as in a deploy: visitors see errors and carry on
        await self._start_app()
        await self.api.learn(http)
        self.restart = Restart(term_at, dead_at, time.time(), stopped)

    async def _probe(self, visitors: list[Visitor], http: httpx.AsyncClient) -> None:
        """Every visitor leaves a click whose model runs far longer than any cancel path."""
        await http.post(f"{self.emulator_base}/_emulator/latency", json={"seconds": PROBE_LATENCY})
        plans = ("cancel", "close", "close_tab")
        try:
            await asyncio.gather(*(v.click(plans[i % 3], v.rng.uniform(0.3, 3.0), phase="probe")
                                   for i, v in enumerate(visitors)))
            await self._settle(PROBE_SETTLE)
        finally:
            await asyncio.gather(*(v.close_page() for v in visitors))
            await http.post(f"{self.emulator_base}/_emulator/latency", json={"seconds": self.config.latency})

    async def _quiet_moment(self, visitors: list[Visitor]) -> ProcStats:
        """Hold new clicks, let the running ones end and the app settle, then read the app process."""
        self.gate.clear()
        try:
            deadline = time.monotonic() + CLICK_TIMEOUT
            while any(v.busy for v in visitors) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await self._settle(5.0)
            await asyncio.sleep(1.0)
            return proc_stats(self.app.pid)
        finally:
            self.gate.set()

    async def _settle(self, timeout: float) -> None:
        """Wait (bounded) until the emulator has no prediction starting or processing."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=10) as http:
            while time.monotonic() < deadline:
                predictions = (await http.get(f"{self.emulator_base}/_emulator/predictions")).json()
                if not any(p["status"] in ("starting", "processing") for p in predictions):
                    return
                await asyncio.sleep(0.25)


def _dump(workdir: Path, clicks: list, predictions: list[dict]) -> None:
    """What the audit saw, beside the logs: the first thing to read when a figure is not 0."""
    (workdir / "clicks.json").write_text(json.dumps([dataclasses.asdict(c) for c in clicks], indent=1))
    (workdir / "predictions.json").write_text(json.dumps(predictions, indent=1))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(config: Config) -> Report:
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="imagen-soak-"))  # kept: its logs explain
    workdir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(Soak(config, workdir).run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--latency", type=float, default=1.0, help="the model's run time, seconds")
    parser.add_argument("--fail-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-restart", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep logs and history here")
    args = parser.parse_args()
    report = run(Config(args.minutes, args.visitors, args.latency, args.fail_rate, args.seed,
                        not args.no_restart, args.workdir))
    print(report.text())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
