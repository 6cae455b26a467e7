"""Which request gets a fault: injected ones first (tests), then random ones (--fail-rate).

Random faults come from one ``random.Random(seed)`` drawn once per API request, so the same seed
and the same sequence of requests give the same sequence of outcomes.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Union

FaultKind = Union[int, str]
CONNECTION_KINDS = frozenset({"drop", "stall", "drop_after_create"})
E005 = "e005"  # the created prediction fails with Replicate's E005 (creates only; ignored elsewhere)
GONE = "gone"  # the created prediction fails at once: the model behind it was shut down (creates only)
_RANDOM_KINDS: tuple[FaultKind, ...] = (429, 500, 503)


def is_status(kind: object) -> bool:
    """An HTTP error status to answer with (429, 500, 502, 503 are the usual; any 4xx/5xx works)."""
    return isinstance(kind, int) and not isinstance(kind, bool) and 400 <= kind <= 599


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    retry_after: int = 1
    delay: float = 0.0


@dataclass
class _Rule:
    method: str
    path_prefix: str
    fault: Fault
    remaining: int


class FaultPlan:
    def __init__(self, fail_rate: float = 0.0, seed: int | None = None) -> None:
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within 0..1, not {fail_rate}")
        self.fail_rate = fail_rate
        self._rng = random.Random(seed)
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()  # rules are added from test threads, consumed on the loop

    def inject(self, method: str, path_prefix: str, kind: FaultKind, *, times: int = 1,
               retry_after: int = 1, delay: float = 0.0) -> None:
        if not is_status(kind) and kind not in CONNECTION_KINDS and kind not in (E005, GONE):
            allowed = ", ".join(sorted(CONNECTION_KINDS | {E005, GONE}))
            raise ValueError(f"unknown fault kind {kind!r}: use an HTTP error status (400..599) or one of {allowed}")
        if times < 1:
            raise ValueError("times must be at least 1")
        rule = _Rule(method.upper(), path_prefix, Fault(kind, int(retry_after), float(delay)), times)
        with self._lock:
            self._rules.append(rule)

    def pick(self, method: str, path: str, *, api: bool, create: bool) -> Fault | None:
        """The fault for this request, if any. Consumes an injected rule or one random draw."""
        with self._lock:
            for rule in self._rules:
                if rule.method in (method, "*") and path.startswith(rule.path_prefix):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule.fault
            if not api or self.fail_rate <= 0.0:
                return None
            if self._rng.random() >= self.fail_rate:
                return None
            kinds = _RANDOM_KINDS + ((E005,) if create else ())
            return Fault(self._rng.choice(kinds))
