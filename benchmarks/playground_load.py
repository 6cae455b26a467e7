"""Playground speed, measured side by side in one run against the emulator.

    python benchmarks/playground_load.py [--users 64] [--latency 2.0] [--rounds 7] [--load-rounds 3]
                                         [--small-images | --beside-small]

Prints three ratios (targets from the playground issue):
  1. 64 simultaneous users of /generate, one image each, wall time over the model latency   (<= 1.25),
     beside two floors measured in the same run (benchmarks/baseline_app.py): a do-nothing Gradio
     app, and one doing only Gradio's part of ours (stream a status line, then serve one image)
  2. one user end to end through /generate over the official client's replicate.run + download
     for the same image, at latency 1.0                                                    (<= 1.10)
  3. a four-image click over a one-image click                                               (<= 1.2)
The app and the emulator run as their own processes (as `python app.py` and
`python -m imagen_ui.emulator`); the load comes from one asyncio loop speaking Gradio's plain HTTP API
(`POST /gradio_api/call/generate`, then its event stream), because gradio_client's per-job threads
would measure themselves on two cores. The emulator's images are photo-sized, as Replicate's (a
1024x1024 JPEG is about 0.5 MB), unless --small-images (the flat placeholders of earlier figures);
the floor that serves an image serves one of the same kind, and every image is fetched as a
browser's <img> asks for it (so our app answers with its preview where it has one).
--beside-small adds to the many-users figure, in the same rounds, our app against a second emulator
drawing the small images: what the real bytes cost, measured side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "r8_benchmark"
# Before each many-users round: the previous round's connections close and the servers go quiet.
SETTLE_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def process(args: list[str], ready_url: str, env: dict | None = None, timeout: float = 30.0):
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(ready_url, timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not start")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


async def call_generate(http: httpx.AsyncClient, base: str, prompt: str, n: int = 1, fmt: str = "jpg"):
    """One /generate call through Gradio's HTTP API; returns the final data (raises on error)."""
    response = await http.post(f"{base}/gradio_api/call/generate",
                               json={"data": [prompt, "1:1", fmt, "block_only_high", n]})
    response.raise_for_status()
    event_id = response.json()["event_id"]
    event = None
    async with http.stream("GET", f"{base}/gradio_api/call/generate/{event_id}") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line[5:])
                if event == "error":
                    raise RuntimeError(f"generate failed: {data}")
                return data
    raise RuntimeError("event stream ended without a result")


# What Chromium sends for an <img>: our app answers it with the image's preview.
BROWSER_IMAGE = {"Sec-Fetch-Dest": "image", "Accept": "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"}


async def fetch_images(http: httpx.AsyncClient, data) -> int:
    """Download the gallery's files, as a browser would."""
    total = 0
    for item in data[0]:
        response = await http.get(item["image"]["url"], headers=BROWSER_IMAGE)
        response.raise_for_status()
        total += len(response.content)
    return total


async def many_users(base: str, users: int, round_: int = 0) -> float:
    limits = httpx.Limits(max_connections=users * 2, max_keepalive_connections=users * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        async def one(i: int) -> None:
            # A new prompt each round: the emulator reuses renders of identical inputs.
            data = await call_generate(http, base, f"load test round {round_} user {i}")
            await fetch_images(http, data)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(users)))
        return time.perf_counter() - started


def emulator_busy(emulator_base: str) -> float:
    """Wall seconds the emulator has spent drawing images so far (at least one draw running)."""
    return httpx.get(f"{emulator_base}/_emulator/renders", timeout=10).json()["busy_seconds"]


async def one_click_bytes(base: str, prompt: str) -> int:
    async with httpx.AsyncClient(timeout=120) as http:
        return await fetch_images(http, await call_generate(http, base, prompt, 1))


async def one_click(base: str, prompt: str, n: int) -> float:
    async with httpx.AsyncClient(timeout=120) as http:
        started = time.perf_counter()
        data = await call_generate(http, base, prompt, n)
        await fetch_images(http, data)
        return time.perf_counter() - started


def official_run(emulator_base: str, prompt: str) -> float:
    import replicate

    client = replicate.Client(api_token=TOKEN, base_url=emulator_base)
    started = time.perf_counter()
    output = client.run("google/imagen-4-fast", input={"prompt": prompt, "aspect_ratio": "1:1",
                                                       "output_format": "jpg",
                                                       "safety_filter_level": "block_only_high"})
    httpx.get(str(output), timeout=60).raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=7, help="rounds of the one-user figures")
    parser.add_argument("--load-rounds", type=int, default=3, help="rounds of the many-users figure")
    parser.add_argument("--only-load", action="store_true", help="measure the many-users figure alone")
    parser.add_argument("--small-images", action="store_true",
                        help="the emulator's flat placeholders (tens of KB) instead of photo-sized files")
    parser.add_argument("--beside-small", action="store_true",
                        help="also measure, in the same rounds, our app against small images")
    args = parser.parse_args()
    small = ["--small-images"] if args.small_images else []
    extra = contextlib.ExitStack()
    small_app = None
    if args.beside_small and not args.small_images:
        small_emu, small_app = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        extra.enter_context(process(["-m", "imagen_ui.emulator", "--port", small_emu.rsplit(":", 1)[1],
                                     "--latency", str(args.latency), "--small-images"], f"{small_emu}/v1/account"))
        small_history = extra.enter_context(tempfile.TemporaryDirectory())
        extra.enter_context(process(["app.py", "--api-base", small_emu, "--port", small_app.rsplit(":", 1)[1],
                                     "--history-dir", small_history], f"{small_app}/",
                                    env={"REPLICATE_API_TOKEN": TOKEN, "GRADIO_ANALYTICS_ENABLED": "False"}))

    emu_port, app_port, base_port, stream_port = free_port(), free_port(), free_port(), free_port()
    base_url, stream_url = f"http://127.0.0.1:{base_port}", f"http://127.0.0.1:{stream_port}"
    emulator_base = f"http://127.0.0.1:{emu_port}"
    app_base = f"http://127.0.0.1:{app_port}"
    with extra, tempfile.TemporaryDirectory() as history, \
            process(["-m", "imagen_ui.emulator", "--port", str(emu_port), "--latency", str(args.latency), *small],
                    f"{emulator_base}/v1/account"), \
            process(["app.py", "--api-base", emulator_base, "--port", str(app_port), "--history-dir", history],
                    f"{app_base}/", env={"REPLICATE_API_TOKEN": TOKEN, "GRADIO_ANALYTICS_ENABLED": "False"}):
        with process(["benchmarks/baseline_app.py", str(base_port), str(args.latency)], f"{base_url}/"), \
                process(["benchmarks/baseline_app.py", str(stream_port), str(args.latency), "--streams-an-image",
                         *small],
                        f"{stream_url}/"):
            series = {base_url: [], stream_url: [], app_base: [], **({small_app: []} if small_app else {})}
            for base in series:
                asyncio.run(one_click(base, "warm up", 1))
            served = asyncio.run(one_click_bytes(app_base, "bytes check"))
            drawing = []  # the emulator's own share of our rounds: seconds it spent drawing images
            for round_ in range(args.load_rounds):  # alternate, so the machine's drift hits all alike
                for base, results in series.items():
                    time.sleep(SETTLE_SECONDS)
                    before = emulator_busy(emulator_base) if base == app_base else 0.0
                    results.append(asyncio.run(many_users(base, args.users, round_)))
                    if base == app_base:
                        drawing.append(emulator_busy(emulator_base) - before)
        set_latency = lambda s: httpx.post(f"{emulator_base}/_emulator/latency", json={"seconds": s})  # noqa: E731

        ratio = {base: statistics.median(walls) / args.latency for base, walls in series.items()}
        rounds = {base: " ".join(f"{w / args.latency:.2f}" for w in walls) for base, walls in series.items()}
        print(f"   images {'small' if args.small_images else 'photo-sized'}: the page is served "
              f"{served / 1e3:.0f} KB per image (a 1024x1024 JPEG)")
        print(f"1. {args.users} users x 1 image at latency {args.latency:.1f} s: wall over latency "
              f"{ratio[app_base]:.2f} (target <= 1.25). Same run, same queue settings: a do-nothing "
              f"Gradio app {ratio[base_url]:.2f}; one doing only Gradio's part of ours (a streamed "
              f"status, then one served image) {ratio[stream_url]:.2f}. Medians of {args.load_rounds} "
              f"rounds: ours {rounds[app_base]}; do-nothing {rounds[base_url]}; Gradio's part "
              f"{rounds[stream_url]}")
        print(f"   the emulator drew the {args.users} images of each of our rounds in "
              f"{' '.join(f'{d:.2f}' for d in drawing)} s of wall time (in its own process, overlapping "
              f"the model latency of {args.latency:.1f} s): not what the figure measures while below it")
        if small_app:
            print(f"   beside it, in the same rounds, ours with the small images: {ratio[small_app]:.2f} "
                  f"(rounds {rounds[small_app]}): the real bytes cost {ratio[app_base] / ratio[small_app]:.2f}x")

        if args.only_load:
            return
        set_latency(1.0).raise_for_status()
        ours, theirs = [], []
        for i in range(args.rounds):  # alternate, so drift hits both alike
            ours.append(asyncio.run(one_click(app_base, f"one user round {i}", 1)))
            theirs.append(official_run(emulator_base, f"one user round {i}"))
        o, t = statistics.median(ours), statistics.median(theirs)
        print(f"2. one user via /generate {o:.3f} s over replicate.run + download {t:.3f} s: "
              f"ratio {o / t:.3f} (target <= 1.10)")

        ones, fours = [], []
        for i in range(args.rounds):
            ones.append(asyncio.run(one_click(app_base, f"one image round {i}", 1)))
            fours.append(asyncio.run(one_click(app_base, f"four images round {i}", 4)))
        one, four = statistics.median(ones), statistics.median(fours)
        print(f"3. four-image click {four:.3f} s over one-image click {one:.3f} s: "
              f"ratio {four / one:.3f} (target <= 1.2)")


if __name__ == "__main__":
    main()
