"""Gradio apps with our queue settings that only sleep: the floors for the load benchmark.

    python benchmarks/baseline_app.py PORT LATENCY [--streams-an-image [--small-images]]

Its /generate takes the same five inputs, sleeps LATENCY seconds and returns an empty gallery.
With --streams-an-image it does Gradio's part of ours and nothing else: it streams a status line,
sleeps, then shows one image (an emulator-drawn JPEG of ours, photo-sized unless --small-images,
served from a static path).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for the emulator's drawing

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# The queue's monitoring summary as ours computes it (imagen_ui.gradio_tuning.QUEUE_SUMMARY_ENV).
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "100")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")

import gradio as gr  # noqa: E402


def main() -> None:
    port, latency = int(sys.argv[1]), float(sys.argv[2])
    streams_an_image = "--streams-an-image" in sys.argv[3:]
    with tempfile.TemporaryDirectory() as images:
        if streams_an_image:  # only this floor serves a file: the other one sets up nothing for it
            gr.set_static_paths([images])
            image = _an_image(Path(images), small="--small-images" in sys.argv[3:])
            handler, served = _streamer(latency, image), {"allowed_paths": [images]}
        else:
            handler, served = _sleeper(latency), {}
        with gr.Blocks(analytics_enabled=False) as demo:
            inputs = [gr.Textbox(), gr.Textbox(), gr.Textbox(), gr.Textbox(), gr.Number()]
            outputs = [gr.Gallery(), gr.Markdown()]
            gr.Button().click(handler, inputs, outputs, api_name="generate", concurrency_limit=None,
                              preprocess=not streams_an_image)  # as ours
        demo.max_threads = 256  # as ours: the queue's worker slots are sized from it
        demo.queue(default_concurrency_limit=None, status_update_rate=1.0)
        demo.launch(server_name="127.0.0.1", server_port=port, quiet=True, max_threads=256, **served)


def _sleeper(latency: float):
    async def generate(prompt, aspect_ratio, output_format, safety_filter_level, num_images):
        await asyncio.sleep(latency)
        return [], "done"

    return generate


def _streamer(latency: float, image: Path):
    async def generate(prompt, aspect_ratio, output_format, safety_filter_level, num_images):
        yield [], "**Image 1**: starting…"
        await asyncio.sleep(latency)
        yield [str(image)], f"**Image 1**: done in {latency:.1f} s"

    return generate


def _an_image(folder: Path, small: bool) -> Path:
    """A 1024x1024 JPEG as the emulator draws them for the load benchmark's prompts."""
    from imagen_ui.emulator import photo
    from imagen_ui.emulator.images import ImageSpec, render

    spec = ImageSpec.from_inputs("google/imagen-4-fast", {"prompt": "load test round 0 user 0",
                                                         "aspect_ratio": "1:1", "output_format": "jpg"})
    path = folder / "image.jpg"
    path.write_bytes((render if small else photo.render)(spec).data)
    return path


if __name__ == "__main__":
    main()
