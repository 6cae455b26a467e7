"""Small helpers shared by the client's test modules."""

from __future__ import annotations

import io

from PIL import Image

from imagen_ui.replicate.client import ReplicateClient
from imagen_ui.replicate.retry import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=2.0)


def client_for(emu, **kwargs) -> ReplicateClient:
    """A client for the emulator `emu` that retries fast (tests wait for nothing)."""
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("poll_interval", 0.1)
    return ReplicateClient(kwargs.pop("token", "r8_test"), base_url=emu.base_url, **kwargs)


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buffer, fmt)  # noise: does not compress away
    return buffer.getvalue()
