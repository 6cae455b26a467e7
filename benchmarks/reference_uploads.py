"""What reference images add to a click: 4 photos of 2 MB each, uploaded in parallel, side by side in one run.

    python benchmarks/reference_uploads.py [--rounds 8] [--latency 1.0] [--mbit 40] [--rtt-ms 60]

Starts the emulator as a subprocess and, in this process, the app's own GenerationService (real
ReplicateClient, real History in a temp dir). Each round times, in alternating order:
  plain:  one google/nano-banana-pro click without input images (check, predict, download, store)
  refs:   the same click with 4 reference images of ~2 MB each (check, 4 uploads, predict, ...)
  upload: one 2 MB upload alone (ReplicateClient.upload_file)
  4 at once: the four uploads alone, in parallel (what the link and this machine allow at best)
over two links: loopback as it is, and a far-away server (a proxy in this process holding each TCP
connection to --mbit and adding --rtt-ms at each burst, as a long path does). Prints the medians,
the time the images added (refs - plain) over one upload's time (target <= 1.0: they go in
parallel), the same over the four uploads alone (1.0: the click adds nothing of its own) and the
HTTP calls each click made. On a shared uplink the uploads would split its
bandwidth instead; this measures what the app controls: nothing waits for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagen_ui.replicate import ReplicateClient  # noqa: E402
from imagen_ui.service.catalog_loader import load_catalog  # noqa: E402
from imagen_ui.service.generation import GenerationService  # noqa: E402
from imagen_ui.store import History  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from client_vs_official import free_port, start_emulator  # noqa: E402

MODEL = "google/nano-banana-pro"
TOKEN = "r8_benchmark_token"
TARGET = 1.0


def photos(folder: Path, n: int = 4) -> list[Path]:
    """n different photo-sized JPEGs of about 2 MB (noise over a gradient does not compress away)."""
    paths = []
    for i in range(n):
        size = (1800, 1350)
        base = Image.linear_gradient("L").resize(size).convert("RGB")
        noise = Image.effect_noise(size, 40 + 10 * i).convert("RGB")
        picture = Image.blend(base, noise, 0.5)
        path = folder / f"photo-{i}.jpg"
        picture.save(path, "JPEG", quality=97)
        paths.append(path)
    return paths


class SlowLink:
    """A TCP proxy on loopback: each connection carries at most `mbit` Mbit/s each way, and a burst
    after a pause waits `rtt_ms / 2` first. Runs its own event loop in a thread."""

    def __init__(self, target_port: int, mbit: float, rtt_ms: float) -> None:
        self.target_port = target_port
        self.rate = mbit * 1e6 / 8
        self.delay = rtt_ms / 2000
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowLink:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        last = 0.0
        try:
            while data := await reader.read(64 * 1024):
                now = time.monotonic()
                if now - last > 0.05:  # a new request (or answer) after a pause: the path's latency
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
                await asyncio.sleep(len(data) / self.rate)
                last = time.monotonic()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer))


async def click(service: GenerationService, values: dict) -> tuple[float, Counter]:
    before = Counter(service.client.calls)
    started = time.perf_counter()
    inputs, n = await service.avalidate(values, 1, MODEL)
    async for snapshot in service.generate(inputs, n, model=MODEL):
        last = snapshot
    took = time.perf_counter() - started
    if not all(slot.status == "succeeded" for slot in last.slots):
        raise SystemExit(f"a click failed: {[slot.message for slot in last.slots]}")
    return took, Counter(service.client.calls) - before


async def uploads(client: ReplicateClient, blobs: list[bytes]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(client.upload_file(data, filename="photo.jpg", content_type="image/jpeg")
                           for data in blobs))
    return time.perf_counter() - started


async def measure(api_base: str, emulator_base: str, rounds: int, refs: list[Path], work: Path,
                  label: str) -> dict:
    catalog = load_catalog((MODEL,), api_base, TOKEN)
    # Output files come from the emulator's own URLs (the proxy is on the API's way only): the
    # same for both kinds of click.
    client = ReplicateClient(TOKEN, base_url=api_base, extra_download_origins=[emulator_base])
    service = GenerationService(client, catalog, History(work / f"history-{label}"), default_model=MODEL,
                                upload_roots=(refs[0].parent,))
    plain_values = {"prompt": "a lighthouse at dusk", "resolution": "1K"}
    refs_values = {**plain_values, "image_input": [str(p) for p in refs]}
    blobs = [path.read_bytes() for path in refs]
    times: dict[str, list[float]] = {"plain": [], "refs": [], "upload": [], "uploads": []}
    calls: dict[str, Counter] = {}
    try:
        await click(service, plain_values)  # warm-up: connections, the model's run time learned
        await click(service, refs_values)
        for i in range(rounds):
            order = ["plain", "refs", "upload", "uploads"]
            for kind in order if i % 2 == 0 else reversed(order):
                if kind == "upload":
                    times[kind].append(await uploads(client, blobs[:1]))
                elif kind == "uploads":
                    times[kind].append(await uploads(client, blobs))
                else:
                    took, used = await click(service, plain_values if kind == "plain" else refs_values)
                    times[kind].append(took)
                    calls[kind] = used
    finally:
        await service.aclose()
        service.history.close()
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    return {"medians": medians, "calls": calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--latency", type=float, default=1.0, help="the model's run time in the emulator")
    parser.add_argument("--mbit", type=float, default=40.0, help="per-connection rate of the far link")
    parser.add_argument("--rtt-ms", type=float, default=60.0, help="round trip of the far link")
    args = parser.parse_args()
    port = free_port()
    emulator = start_emulator(args.latency, port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "refs").mkdir()
            refs = photos(work / "refs")
            sizes = ", ".join(f"{p.stat().st_size / 1e6:.1f}" for p in refs)
            print(f"{len(refs)} reference images of {sizes} MB; model run time {args.latency:g} s; "
                  f"{args.rounds} rounds, alternating; 2 shared cores, figures are noisy: read the ratios")
            results = {}
            direct = f"http://127.0.0.1:{port}"
            results["loopback"] = asyncio.run(measure(direct, direct, args.rounds, refs, work, "loop"))
            with SlowLink(port, args.mbit, args.rtt_ms) as link:
                far = f"far link ({args.mbit:g} Mbit/s per connection, {args.rtt_ms:g} ms)"
                results[far] = asyncio.run(measure(f"http://127.0.0.1:{link.port}", direct, args.rounds, refs,
                                                   work, "far"))
    finally:
        emulator.terminate()
        emulator.wait(10)
    print(f"\n{'link':<44} {'plain':>6} {'4 refs':>7} {'added':>6} {'1 upload':>9} {'4 at once':>10} "
          f"{'added/1 upload':>15} {'added/4 at once':>16}")
    for name, result in results.items():
        m = result["medians"]
        added = m["refs"] - m["plain"]
        ratio = added / m["upload"]
        verdict = "ok" if ratio <= TARGET else f"over {TARGET:g}"
        print(f"{name:<44} {m['plain']:>5.2f}s {m['refs']:>6.2f}s {added:>5.2f}s {m['upload']:>8.2f}s "
              f"{m['uploads']:>9.2f}s {ratio:>9.2f} {verdict:<6}{added / m['uploads']:>14.2f}")
    print("('4 at once': the same four uploads alone, in parallel: the floor this machine and link allow.)")
    print("\nHTTP calls per click (last measured round):")
    for name, result in results.items():
        for kind in ("plain", "refs"):
            used = result["calls"].get(kind, Counter())
            shown = ", ".join(f"{k} {v}" for k, v in sorted(used.items()))
            print(f"  {name:<46} {kind:<6} {sum(used.values()):>2} calls: {shown}")


if __name__ == "__main__":
    main()
