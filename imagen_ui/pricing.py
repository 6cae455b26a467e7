"""What an image costs on Replicate, from a bundled, dated table: always an estimate.

Replicate's API returns no price. These are its public per-image figures as of `PRICES_AS_OF`
(the reference notes, models-2026.md; imagen-4 and imagen-4-ultra from Replicate's model pages of
2025). Where a model's price depends on an input (nano-banana-pro at 4K), the table says by which.
A model the table does not know costs `UNKNOWN_MODEL_USD` for the host's budget (the dearest image
in the table, so the budget errs on the side of the wallet) and gets no estimate on the page.

Pure module: no network, no Gradio.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["PRICED_INPUTS", "PRICES", "PRICES_AS_OF", "UNKNOWN_MODEL_USD", "Price", "describe_estimate",
           "format_usd", "image_price", "known"]

PRICES_AS_OF = "2026-11"


@dataclass(frozen=True)
class Price:
    """Dollars per output image; `by` names an input whose values change it ({value: dollars})."""

    usd: float
    by: str | None = None
    overrides: Mapping[str, float] = field(default_factory=dict)

    def of(self, inputs: Mapping[str, object]) -> float:
        if self.by is not None:
            value = inputs.get(self.by)
            if isinstance(value, str) and value in self.overrides:
                return self.overrides[value]
        return self.usd


PRICES: dict[str, Price] = {
    "google/imagen-4-fast": Price(0.02),
    "google/imagen-4": Price(0.04),
    "google/imagen-4-ultra": Price(0.06),
    "google/nano-banana": Price(0.04),
    # 1K and 2K cost the same; 4K twice as much (a third-party figure).
    "google/nano-banana-pro": Price(0.15, by="resolution", overrides={"4K": 0.30}),
    "black-forest-labs/flux-2-pro": Price(0.06),
    "black-forest-labs/flux-2-dev": Price(0.02),
    "black-forest-labs/flux-schnell": Price(0.003),
    "bytedance/seedream-4": Price(0.03),
    # Not in the reference notes, unchecked here: Replicate's model pages of 2025 said $0.04 each.
    "bytedance/seedream-4.5": Price(0.04),
    "black-forest-labs/flux-kontext-pro": Price(0.04),
    # No public figure found: priced as its dearer sibling nano-banana-pro, so the budget errs on the
    # side of the wallet until someone checks it.
    "google/nano-banana-2": Price(0.15, by="resolution", overrides={"4K": 0.30}),
    "qwen/qwen-image-edit": Price(0.03),
}
# The inputs any price depends on (the history's total groups its images by them).
PRICED_INPUTS = tuple(sorted({price.by for price in PRICES.values() if price.by}))
UNKNOWN_MODEL_USD = max(max([p.usd, *p.overrides.values()]) for p in PRICES.values())


def known(model: str) -> bool:
    return _base(model) in PRICES


def image_price(model: str, inputs: Mapping[str, object] | None = None) -> float:
    """Dollars one output image of `model` with `inputs` costs (UNKNOWN_MODEL_USD if not in the table)."""
    price = PRICES.get(_base(model))
    return UNKNOWN_MODEL_USD if price is None else price.of(inputs or {})


def format_usd(usd: float) -> str:
    """$0.08, $1.20, $0.003: cents, or the first significant digit below a cent."""
    if usd <= 0:
        return "$0.00"
    if usd < 0.01:
        digits = -math.floor(math.log10(usd))
        return f"${usd:.{digits}f}"
    return f"${usd:,.2f}"


def describe_estimate(model: str, inputs: Mapping[str, object], images: int) -> str | None:
    """"about $0.08 for 4 images (estimate, Replicate's prices of 2026-11)", or None when the table
    does not know the model."""
    if not known(model) or images < 1:
        return None
    total = image_price(model, inputs) * images
    noun = "1 image" if images == 1 else f"{images} images"
    return f"about {format_usd(total)} for {noun} (estimate, Replicate's prices of {PRICES_AS_OF})"


def _base(model: str) -> str:
    return model.split(":", 1)[0]
