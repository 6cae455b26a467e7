"""How often and how long to retry a request that may succeed on a second try."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter, honouring the server's Retry-After.

    `attempts` counts the first try. A server hint longer than `max_delay` is not waited out:
    the error is raised at once (a UI should not hang for a minute on a throttled call).
    """

    attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to sleep after failed try number `attempt` (1-based), or None to give up."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_delay else None
        backoff = self.base_delay * 2 ** (attempt - 1)
        return min(self.max_delay, backoff * random.uniform(0.8, 1.2))  # noqa: S311 (jitter, not crypto)
