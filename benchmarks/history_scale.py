"""Start-up cost of the history at 0 and 10,000 entries, measured side by side in one run.

    python benchmarks/history_scale.py [--entries 10000] [--repeat 7]

Sizes are 0, 100 (already a full first page) and 10,000 entries.
Each run is a fresh interpreter (imports excluded from the figures) that does ``History(root)``
(which runs reconcile) and reads the first page of 24. Three start-ups are measured:

  steady       nothing changed since the last start: reconcile stats each folder, lists none
  after add    one image was added since: the newest month's folder is listed again
  full rescan  every folder changed (first start, or files copied in): all are listed

Runs alternate between the sizes so machine noise hits both alike. Memory is the peak of the same
work: tracemalloc for Python objects, and growth of peak RSS (Linux VmHWM), which includes SQLite.
Exits 1 if a target is missed: at most 0.3 s more at 10,000 entries than at 0 in every scenario,
and in the steady start-up memory that does not grow with the history (10,000 vs 100 entries:
against 0 entries the difference is mostly the 24 entries of the first page itself).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from imagen_ui.store import metadata  # noqa: E402
from imagen_ui.store.history import History  # noqa: E402

TIME_BUDGET_S = 0.3
MEMORY_SLACK_KIB = 256  # noise allowance for "does not grow"
SCENARIOS = ("steady", "after add", "full rescan")
START = datetime(2025, 1, 1, tzinfo=timezone.utc)
STEP = timedelta(minutes=45)  # 10,000 entries span about 10 month folders

# Runs in a fresh interpreter: prints {"seconds", "traced_kib", "rss_kib", "listed"} as JSON.
PROBE = """
import json, resource, sys, time, tracemalloc
from imagen_ui.store.history import History

def peak_rss_kib(reset=False):
    # Linux: VmHWM can be reset, so the peak is this step's alone (not the imports').
    try:
        if reset:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

root, trace = sys.argv[1], sys.argv[2] == "trace"
rss_before = peak_rss_kib(reset=True)
if trace:
    tracemalloc.start()
started = time.perf_counter()
history = History(root)
first_page = history.page(everyone=True, limit=24)
seconds = time.perf_counter() - started
traced = tracemalloc.get_traced_memory()[1] if trace else 0
rss_growth = peak_rss_kib() - rss_before
history.close()
report = history.last_reconcile
assert report.repairs == (0, 0, 0, 0), report
print(json.dumps({"seconds": seconds, "traced_kib": traced / 1024, "rss_kib": rss_growth,
                  "listed": report.folders_listed, "page": len(first_page)}))
"""


def build(root: Path, entries: int) -> None:
    """A settled history of ``entries`` small PNGs, one every 45 minutes.

    Files are written with their parameters embedded and History indexes them (its reconcile),
    which is much faster than ``add()``'s fsyncs and yields the same files and rows.
    """
    base = _png()
    for n in range(entries):
        created = (START + STEP * n).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        params = {"Model": "google/imagen-4-fast", "Aspect ratio": "1:1", "Output format": "png",
                  "Safety filter level": "block_only_high", "Size": "8x8", "Prediction": f"bench{n:06d}",
                  "Created": created, "Predict time": 1.5}
        stamp = created[:19].replace("-", "").replace(":", "").replace("T", "-")
        folder = root / "images" / created[:7]
        folder.mkdir(parents=True, exist_ok=True)
        text = metadata.format_infotext(f"a benchmark prompt about item {n}, with some words", params)
        (folder / f"imagen-4-fast_{stamp}_a-benchmark-prompt-about-item-{n}_bench{n:06d}.png").write_bytes(
            metadata.embed(base, "png", text))
    History(root).close()  # index the files
    time.sleep(2.1)  # folders changed less than 2 s ago are not trusted as unchanged
    History(root).close()  # now their state is recorded


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (120, 60, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def prepare(root: Path, scenario: str, entries: int, run: int) -> None:
    """Bring ``root`` into the state the scenario starts from."""
    if scenario == "after add":  # as a session of the app would: one real add, newest month
        with History(root) as history:
            history.add(data=_png(), fmt="png", prediction_id=f"added{run:04d}", model="google/imagen-4-fast",
                        inputs={"prompt": "one more"}, created_at=START + STEP * max(entries - 1, 0),
                        predict_time=1.0, width=8, height=8)
    elif scenario == "full rescan":  # every folder changed just now
        now = time.time()
        for folder in [root / "images", *(p for p in (root / "images").rglob("*") if p.is_dir())]:
            os.utime(folder, (now, now))


def probe(root: Path, trace: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", PROBE, str(root), "trace" if trace else "time"],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sizes = (0, 100, args.entries)

    results = {(sc, size): {"seconds": [], "traced_kib": [], "rss_kib": [], "listed": []}
               for sc in SCENARIOS for size in sizes}
    with tempfile.TemporaryDirectory(prefix="history-scale-") as scratch:
        roots = {}
        for size in sizes:
            built = Path(scratch) / f"built-{size}"
            build(built, size)
            for scenario in SCENARIOS:  # copytree keeps folder mtimes, so copies stay settled
                roots[scenario, size] = Path(shutil.copytree(built, Path(scratch) / f"{scenario}-{size}"))
        for run in range(args.repeat):
            for scenario in SCENARIOS:
                for size in sizes:  # alternate sizes, so drift affects both alike
                    root, result = roots[scenario, size], results[scenario, size]
                    prepare(root, scenario, size, 2 * run)
                    timed = probe(root, trace=False)
                    prepare(root, scenario, size, 2 * run + 1)
                    traced = probe(root, trace=True)
                    result["seconds"].append(timed["seconds"])
                    result["rss_kib"].append(timed["rss_kib"])
                    result["traced_kib"].append(traced["traced_kib"])
                    result["listed"].append(timed["listed"])

    print(f"History(root) incl. reconcile + first page of 24: median of {args.repeat} fresh processes each")
    print(f"{'start-up':<12} {'entries':>7} {'folders listed':>14} {'time ms':>8} {'tracemalloc KiB':>15} "
          f"{'peak RSS +KiB':>13}")
    ok = True
    for scenario in SCENARIOS:
        med = {size: {k: statistics.median(v) for k, v in results[scenario, size].items()} for size in sizes}
        for size in sizes:
            m = med[size]
            print(f"{scenario:<12} {size:>7} {m['listed']:>14.0f} {m['seconds'] * 1000:>8.1f} "
                  f"{m['traced_kib']:>15.0f} {m['rss_kib']:>13.0f}")
        empty, page_full, large = (med[size] for size in sizes)
        extra = large["seconds"] - empty["seconds"]
        traced_growth = large["traced_kib"] - page_full["traced_kib"]
        rss_growth = large["rss_kib"] - page_full["rss_kib"]
        print(f"{'':<12} {'diff':>7} {'':>14} {extra * 1000:>+8.1f} {traced_growth:>+15.0f} {rss_growth:>+13.0f}"
              f"   (time: {sizes[2]} vs 0, {large['seconds'] / empty['seconds']:.1f}x; memory: {sizes[2]} vs 100)")
        ok &= extra <= TIME_BUDGET_S
        if scenario == "steady":
            ok &= traced_growth <= MEMORY_SLACK_KIB and rss_growth <= MEMORY_SLACK_KIB
    print(f"targets: time diff <= +{TIME_BUDGET_S * 1000:.0f} ms in every start-up; steady memory diff <= "
          f"{MEMORY_SLACK_KIB} KiB -> {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
