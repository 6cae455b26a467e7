"""``python -m imagen_ui.emulator``: serve until SIGINT or SIGTERM, then exit 0."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .control import Emulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m imagen_ui.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--latency", type=float, default=4.0, metavar="SECONDS",
                        help="model run time per prediction (default 4, about imagen-4-fast's)")
    parser.add_argument("--fail-rate", type=float, default=0.0, metavar="F",
                        help="share of API requests answered with a fault (429, 5xx, E005)")
    parser.add_argument("--seed", type=int, default=None, help="makes faults, ids and the webhook secret repeatable")
    parser.add_argument("--token", default=None, help="accept only this API token (default: any)")
    parser.add_argument("--retention", type=float, default=3600.0, metavar="SECONDS",
                        help="seconds after completion until input, output and file are removed")
    parser.add_argument("--small-images", action="store_true",
                        help="flat placeholder images of tens of KB instead of photo-sized files")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    emulator = Emulator(latency=args.latency, fail_rate=args.fail_rate, seed=args.seed, token=args.token,
                        retention=args.retention, host=args.host, port=args.port, small_images=args.small_images)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    emulator.start()
    print(f"Replicate emulator listening on {emulator.base_url} (latency {args.latency:g} s)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    print("Replicate emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
