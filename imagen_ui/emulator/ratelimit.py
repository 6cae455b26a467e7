"""Replicate's rate-limit headers: 600 creates a minute, 3000 a minute for everything else.

Reported only, never enforced: throttling here would turn a soak test into a rate-limit test.
Use --fail-rate or inject_fault(..., 429) for 429s.
"""

from __future__ import annotations

import time


class RateLimit:
    """A token bucket that refills continuously, like the limiter behind the headers."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._tokens = float(per_minute)
        self._last = time.monotonic()

    def take(self) -> list[tuple[bytes, bytes]]:
        now = time.monotonic()
        self._tokens = min(self.per_minute, self._tokens + (now - self._last) * self.per_minute / 60)
        self._last = now
        self._tokens = max(0.0, self._tokens - 1)
        return [(b"ratelimit-remaining", str(int(self._tokens)).encode()), (b"ratelimit-reset", b"1")]
