"""Small helpers shared by the client's test modules."""

from __future__ import annotations

import io
import struct
import zlib

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


def bomb_png(side: int = 20_000) -> bytes:
    """A real decompression bomb: a 600 KB grayscale PNG that decodes to 400 MB."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer, row, rows = zlib.compressobj(9), b"\0" * (side + 1), []
    for _ in range(side // 100):
        rows.append(packer.compress(row * 100))
    rows.append(packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(rows)) + chunk(b"IEND", b"")
