"""Small wire-format details of Replicate's API: ``Prefer``, ``Cancel-After``, paging cursors."""

from __future__ import annotations

import base64
import re

MAX_WAIT = 60
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_prefer(value: str | None) -> int | None:
    """Seconds to hold a create open: ``wait`` -> 60, ``wait=N`` (1..60) -> N, else None (ignored)."""
    for token in (value or "").split(","):
        token = token.strip().lower()
        if token == "wait":
            return MAX_WAIT
        if token.startswith("wait="):
            number = token[5:].strip()
            if number.isdigit() and 1 <= int(number) <= MAX_WAIT:
                return int(number)
    return None


def parse_cancel_after(value: str | None) -> float | None:
    """``Cancel-After: 30s | 5m | 1h30m`` (or bare seconds) -> seconds, at least 5; None if absent or bad."""
    text = (value or "").strip().lower()
    if not text:
        return None
    if text.replace(".", "", 1).isdigit():
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if not match or not any(match.groups()):
            return None
        hours, minutes, secs = match.groups()
        seconds = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)
    return max(5.0, seconds)


def encode_cursor(direction: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{direction}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int] | None:
    """The (direction, seq) an opaque cursor stands for, or None when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, seq = text.split(":")
        if direction in ("older", "newer") and seq.isdigit():
            return direction, int(seq)
    except (ValueError, UnicodeDecodeError):
        pass
    return None
