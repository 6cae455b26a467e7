"""Shared fixtures and the two helpers every kind of test needs: `free_port` and `wait_until`.

Tests talk real HTTP to the Replicate emulator on loopback, and real Chromium to the page. Test
modules import the helpers with `from conftest import free_port, wait_until`; fixtures are found
by name. No test waits by sleeping: it waits until the condition it needs holds (`wait_until`,
or `wait_until_async` on an event loop), and fails saying so when it never does.
"""

from __future__ import annotations

import os

# Before anything imports gradio or huggingface_hub: no telemetry, no network.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

import asyncio  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from typing import Any, Callable, Iterator  # noqa: E402

import pytest  # noqa: E402

from imagen_ui.emulator import Emulator  # noqa: E402

# Debian's Chromium (apt-get install chromium), driven by Playwright: never `playwright install`.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# A closed network: keep Chromium from calling home (its connections would be refused anyway).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    """A loopback TCP port nothing listens on now (the system's pick, released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


Message = str | Callable[[], str] | None


def wait_until(condition: Callable[[], object], timeout: float = 5.0, step: float = 0.02,
               message: Message = None) -> float:
    """Seconds until `condition()` held; fails the test after `timeout` seconds, saying `message`
    (a text, or a function giving it then, to show the state at the end).

    For tests that wait on another thread or process; on an event loop use `wait_until_async`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            _fail(message, timeout)
        time.sleep(step)
    return time.monotonic() - started


async def wait_until_async(condition: Callable[[], object], timeout: float = 5.0, step: float = 0.02,
                           message: Message = None) -> float:
    """`wait_until` for a test on an event loop: the loop runs on while it waits."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            _fail(message, timeout)
        await asyncio.sleep(step)
    return time.monotonic() - started


def _fail(message: Message, timeout: float) -> None:
    text = message() if callable(message) else message
    pytest.fail(text or f"condition not met within {timeout} s")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A started emulator with a short model latency and small images; stopped after the test."""
    emu = Emulator(latency=0.05, retention=3600, small_images=True).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """``make_emulator(**kwargs)`` -> a started ``Emulator(**kwargs)``; all stopped at teardown.

    Small images unless a test asks for photo-sized ones (``small_images=False``): most tests do
    not care about bytes, and the suite stays fast."""
    started: list[Emulator] = []

    def make(**kwargs: Any) -> Emulator:
        kwargs.setdefault("small_images", True)
        emu = Emulator(**kwargs).start()
        started.append(emu)
        return emu

    try:
        yield make
    finally:
        for emu in started:
            emu.stop()


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (pytest.mark.anyio) run on asyncio, the loop the app runs on."""
    return "asyncio"


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for a test module (Playwright from PyPI, Debian's browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser tab (its own context: no cookies or storage from another test)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()
