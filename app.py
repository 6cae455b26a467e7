"""imagen-ui: a browser playground for Replicate's text-to-image models.

`python app.py [--host H] [--port P] [--share] [--offline] [--model OWNER/NAME] [--history-dir DIR]
[--api-base URL]` (`--help` lists the rest). Also exposes `demo` for Hugging Face Spaces and
`gradio app.py`.
"""

from __future__ import annotations

import logging
import sys

from imagen_ui.bootstrap import create_app
from imagen_ui.settings import SettingsError, build_arg_parser, load_settings

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "uvicorn.error"):  # a line per HTTP call, a line per server start
        logging.getLogger(noisy).setLevel(logging.WARNING)

# Command-line flags apply only when run as a script; imported (Spaces, `gradio app.py`) it reads
# the environment and .env alone.
try:
    settings = load_settings(sys.argv[1:] if __name__ == "__main__" else [])
except SettingsError as error:
    build_arg_parser().error(str(error))
app = create_app(settings)
demo = app.demo

if __name__ == "__main__":
    app.stop_on_signals()
    try:
        app.launch()
    finally:
        app.close()
