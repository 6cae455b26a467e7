"""Our ReplicateClient against the official `replicate` client, side by side in one run.

    python benchmarks/client_vs_official.py [--rounds 15] [--latency 1.0] [--port 0]

Starts the emulator as a subprocess (`python -m imagen_ui.emulator --latency L --port P`), then runs
ROUNDS rounds, each timing one image end to end with both clients, in alternating order:
  ours:     ReplicateClient.run("google/imagen-4-fast", input) + download() (checked image bytes)
  official: replicate.Client(api_token, base_url).run(...) in a thread (it is sync) + an httpx GET of the URL
Both clients are created once and reused (connection reuse on both sides); one unmeasured warm-up round
goes first. Prints both medians, the ratio ours/official (target <= 1.02) and our HTTP calls per image.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import replicate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagen_ui.replicate.client import ReplicateClient  # noqa: E402

MODEL = "google/imagen-4-fast"
TOKEN = "r8_benchmark_token"
TARGET_RATIO = 1.02


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_emulator(latency: float, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "imagen_ui.emulator", "--latency", str(latency), "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/account", timeout=1,
                      headers={"Authorization": f"Bearer {TOKEN}"}).raise_for_status()
            return process
        except httpx.HTTPError:
            if process.poll() is not None:
                raise SystemExit("the emulator exited at start") from None
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("the emulator did not come up within 20 s")


async def ours(client: ReplicateClient, prompt: str) -> float:
    started = time.perf_counter()
    prediction = await client.run(MODEL, {"prompt": prompt})
    download = await client.download(prediction.output_urls[0], expected_format="jpg")
    assert download.data
    return time.perf_counter() - started


def official(client: replicate.Client, http: httpx.Client, prompt: str) -> float:
    started = time.perf_counter()
    output = client.run(MODEL, input={"prompt": prompt})
    url = output if isinstance(output, str) else str(getattr(output, "url", output))
    response = http.get(url)
    response.raise_for_status()
    assert response.content
    return time.perf_counter() - started


async def bench(base_url: str, rounds: int) -> None:
    ours_times: list[float] = []
    official_times: list[float] = []
    official_client = replicate.Client(api_token=TOKEN, base_url=base_url)
    with httpx.Client() as http:
        async with ReplicateClient(TOKEN, base_url=base_url) as client:
            await ours(client, "warm-up")
            await asyncio.to_thread(official, official_client, http, "warm-up")
            client.calls.clear()
            for index in range(rounds):
                prompt = f"a lighthouse at dusk, round {index}"
                if index % 2 == 0:  # alternate who goes first, so drift hits both sides alike
                    ours_times.append(await ours(client, prompt))
                    official_times.append(await asyncio.to_thread(official, official_client, http, prompt))
                else:
                    official_times.append(await asyncio.to_thread(official, official_client, http, prompt))
                    ours_times.append(await ours(client, prompt))
            calls = Counter(client.calls)
    ours_median = statistics.median(ours_times)
    official_median = statistics.median(official_times)
    ratio = ours_median / official_median
    api_calls = sum(n for kind, n in calls.items() if kind != "download")
    print(f"rounds: {rounds} (after one unmeasured warm-up each)")
    for name, times in (("ours", ours_times), ("official", official_times)):
        print(f"{name:<8} median {statistics.median(times) * 1000:8.1f} ms"
              f"  (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})")
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"ratio ours/official: {ratio:.3f}  (target <= {TARGET_RATIO}: {verdict})")
    print(f"our HTTP calls per image: {sum(calls.values()) / rounds:.2f} "
          f"({api_calls / rounds:.2f} API + {calls['download'] / rounds:.2f} download; {dict(calls)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--latency", type=float, default=1.0, help="the emulated model's run time (s)")
    parser.add_argument("--port", type=int, default=0, help="emulator port (default: a free one)")
    args = parser.parse_args()
    port = args.port or free_port()
    os.environ.pop("REPLICATE_API_TOKEN", None)  # the official client must use the token given here
    process = start_emulator(args.latency, port)
    try:
        print(f"emulator: http://127.0.0.1:{port}, latency {args.latency:g} s")
        asyncio.run(bench(f"http://127.0.0.1:{port}", args.rounds))
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
