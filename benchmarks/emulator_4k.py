"""The emulator, photo-sized images, with google/nano-banana-pro added: 4K outputs for benchmarks.

    python benchmarks/emulator_4k.py PORT LATENCY

Until nano-banana-pro's schema is bundled (imagen_ui/models/), this adds a copy of google/imagen-4's
model JSON renamed and given nano-banana-pro's inputs from ../shared/reference/models-2026.md that
matter for bytes (prompt, aspect_ratio, resolution 1K/2K/4K, output_format jpg/png,
safety_filter_level; no reference images). The emulator's sizes know the Gemini table
(emulator/sizes.py: 4K 16:9 is 5504x3072). Prints "listening on URL" once it accepts connections.
"""

from __future__ import annotations

import copy
import json
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagen_ui.emulator import Emulator  # noqa: E402
from imagen_ui.emulator.catalog import ModelEntry  # noqa: E402
from imagen_ui.emulator.validation import InputSchema  # noqa: E402

MODEL = "google/nano-banana-pro"
ASPECT_RATIOS = ["match_input_image", "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"]


def nano_banana_pro() -> dict:
    data = json.loads((ROOT / "imagen_ui" / "models" / "google-imagen-4.json").read_text())
    data = copy.deepcopy(data)
    data.update(owner="google", name="nano-banana-pro", url="https://replicate.com/google/nano-banana-pro",
                description="Google's Gemini 3 Pro Image (benchmark copy: no reference images)")
    version = data["latest_version"]
    version["id"] = "b" * 64
    schemas = version["openapi_schema"]["components"]["schemas"]
    schemas["aspect_ratio"]["enum"] = ASPECT_RATIOS
    schemas["resolution"] = {"enum": ["1K", "2K", "4K"], "type": "string", "title": "resolution",
                             "description": "An enumeration."}
    properties = schemas["Input"]["properties"]
    size = properties.pop("image_size")
    properties["aspect_ratio"]["default"] = "match_input_image"
    properties["resolution"] = {**size, "allOf": [{"$ref": "#/components/schemas/resolution"}], "default": "2K",
                                "description": "Resolution of the generated image"}
    return data


def start(port: int, latency: float) -> Emulator:
    emulator = Emulator(latency=latency, port=port)
    data = nano_banana_pro()
    entry = ModelEntry(owner=data["owner"], name=data["name"], raw=json.dumps(data).encode(), data=data,
                       schema=InputSchema(data["latest_version"]["openapi_schema"]))
    catalog = emulator._state.catalog  # a benchmark reaching in: the emulator has no way to add models
    catalog._by_ref[entry.ref] = entry
    catalog._by_version[entry.version_id] = entry
    return emulator.start()


def main() -> None:
    port, latency = int(sys.argv[1]), float(sys.argv[2])
    emulator = start(port, latency)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"listening on {emulator.base_url}", flush=True)
    while not stop.wait(0.5):
        pass
    emulator.stop()


if __name__ == "__main__":
    main()
