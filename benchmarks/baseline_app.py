"""A do-nothing Gradio app with the same queue settings as ours: the floor for the load benchmark.

    python benchmarks/baseline_app.py PORT LATENCY

Its /generate takes the same five inputs, sleeps LATENCY seconds and returns an empty gallery.
"""

from __future__ import annotations

import asyncio
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# The queue's monitoring summary as ours computes it (imagen_ui.bootstrap.QUEUE_SUMMARY_ENV).
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "100")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")

import gradio as gr  # noqa: E402


def main() -> None:
    port, latency = int(sys.argv[1]), float(sys.argv[2])

    async def generate(prompt, aspect_ratio, output_format, safety_filter_level, num_images):
        await asyncio.sleep(latency)
        return [], "done"

    with gr.Blocks(analytics_enabled=False) as demo:
        inputs = [gr.Textbox(), gr.Textbox(), gr.Textbox(), gr.Textbox(), gr.Number()]
        outputs = [gr.Gallery(), gr.Markdown()]
        gr.Button().click(generate, inputs, outputs, api_name="generate", concurrency_limit=None)
    demo.max_threads = 256  # as ours: the queue's worker slots are sized from it
    demo.queue(default_concurrency_limit=None, status_update_rate=1.0)
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True, max_threads=256)


if __name__ == "__main__":
    main()
