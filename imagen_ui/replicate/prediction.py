"""Typed, immutable views of Replicate's prediction JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["TERMINAL_STATUSES", "Prediction", "PredictionPage"]

# All four end a prediction. `aborted` (ended before it ever ran) is the one the official client forgets.
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})


@dataclass(frozen=True)
class Prediction:
    """One prediction as Replicate last described it. `raw` is the JSON it was built from."""

    id: str
    model: str | None
    version: str | None
    status: str
    input: dict[str, Any]
    output: Any
    error: str | None
    logs: str | None
    metrics: dict[str, Any]
    created_at: str | None
    started_at: str | None
    completed_at: str | None
    urls: dict[str, str]
    data_removed: bool
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prediction:
        """Build from an API answer; missing or null fields get empty values, unknown ones stay in `raw`."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ValueError("not a prediction: no string 'id'")
        return cls(
            id=data["id"],
            model=data.get("model"),
            version=data.get("version"),
            status=str(data.get("status") or "starting"),
            input=dict(data.get("input") or {}),
            output=data.get("output"),
            error=None if data.get("error") is None else str(data["error"]),
            logs=data.get("logs"),
            metrics=dict(data.get("metrics") or {}),
            created_at=data.get("created_at"),
            started_at=data.get("started_at"),
            completed_at=data.get("completed_at"),
            urls=dict(data.get("urls") or {}),
            data_removed=bool(data.get("data_removed", False)),
            raw=data,
        )

    @property
    def is_terminal(self) -> bool:
        """True once the status is succeeded, failed, canceled or aborted."""
        return self.status in TERMINAL_STATUSES

    @property
    def has_final_output(self) -> bool:
        """True when the output can be used now: succeeded, or a single-file output already filled in.

        Replicate's sync answers often carry the file while the status still says `processing`;
        a single URI string is final once present. A list can still grow (iterator outputs), so it
        only counts once the prediction succeeded.
        """
        if self.status == "succeeded":
            return True
        return self.status in ("starting", "processing") and isinstance(self.output, str) and bool(self.output)

    @property
    def is_done(self) -> bool:
        """Nothing more to wait for: terminal, or its final output is already here."""
        return self.is_terminal or self.has_final_output

    @property
    def predict_time(self) -> float | None:
        """The model's run time in seconds (`metrics.predict_time`), when Replicate reported it."""
        value = self.metrics.get("predict_time")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def total_time(self) -> float | None:
        """Creation to completion in seconds (`metrics.total_time`): queueing and boot included."""
        value = self.metrics.get("total_time")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def output_urls(self) -> list[str]:
        """Output file URLs as a list, whether the output is one string or a list of them."""
        if isinstance(self.output, str):
            return [self.output] if self.output else []
        if isinstance(self.output, list):
            return [item for item in self.output if isinstance(item, str) and item]
        return []


@dataclass(frozen=True)
class PredictionPage:
    """One page of `GET /v1/predictions` (newest first). `next` is the next page's URL, if any."""

    results: list[Prediction]
    next: str | None
