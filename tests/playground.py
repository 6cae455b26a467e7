"""Serve the real app on loopback for tests: Gradio on a free port, talking HTTP to an emulator."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

from imagen_ui.bootstrap import App, create_app
from imagen_ui.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(history_dir: Path, *, api_base: str, token: str | None = "test-token",
          **settings: object) -> Iterator[tuple[App, str]]:
    """The whole app, as `python app.py --api-base …` would run it, on a free loopback port."""
    options = {"history_dir": history_dir, "api_base": api_base, "token": token, "port": free_port()}
    options.update(settings)
    app = create_app(Settings(**options))
    try:
        app.launch(prevent_thread_lock=True, quiet=True)
        yield app, f"http://127.0.0.1:{app.settings.port}/"
    finally:
        app.close()
