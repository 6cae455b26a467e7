"""Serve the real app on loopback for tests (Gradio on a free port, talking HTTP to an emulator),
and drive its page."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from conftest import free_port

from imagen_ui.bootstrap import App, create_app
from imagen_ui.settings import Settings


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


def choose(page, elem_id: str, option: str) -> None:
    """Pick `option` in the page's dropdown `#elem_id`, as a person does: open it, click the option."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()
