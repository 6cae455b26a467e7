"""Shared fixtures. Tests talk real HTTP to the Replicate emulator on loopback."""

from __future__ import annotations

import os

# Before anything imports gradio or huggingface_hub: no telemetry, no network.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

from typing import Any, Callable, Iterator  # noqa: E402

import pytest  # noqa: E402

from imagen_ui.emulator import Emulator  # noqa: E402


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
