"""What a click costs the host, and when it is given back: the per-visitor quota and the daily budget.

`Charges.open` runs before anything is sent: it counts the click's images against the visitor's quota
and its estimated dollars against the host's budget (raising QuotaExceeded or BudgetSpent, with
nothing sent and nothing kept). `Tab.settle(sent)` runs when the click ends, however it ends: the
images whose create certainly never reached Replicate are refunded, and only those. A cancelled
click whose creates were open is charged in full: Replicate may bill what it started.
A visitor's own token pays for their images: nothing is counted for them here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imagen_ui.pricing import image_price
from imagen_ui.public.budget import Budget, BudgetHold
from imagen_ui.public.quota import Quota, Reservation

__all__ = ["Charges", "Tab"]


@dataclass
class Tab:
    """One click's charges; `prices[i]` is the estimated dollars of its image i."""

    prices: list[float]
    reservation: Reservation | None = None
    hold: BudgetHold | None = None

    def settle(self, sent: Sequence[bool]) -> None:
        """`sent[i]`: image i's create may have reached Replicate. Everything else is refunded."""
        if self.reservation is not None:
            self.reservation.release(used_images=sum(bool(s) for s in sent))
        if self.hold is not None:
            self.hold.settle(sum(price for price, s in zip(self.prices, sent) if not s))


class Charges:
    def __init__(self, quota: Quota | None = None, budget: Budget | None = None) -> None:
        self.quota = quota
        self.budget = budget

    def open(self, keys: Sequence[str], images: Sequence[tuple[str, dict]], *, own_token: bool,
             prepaid: bool = False) -> Tab:
        """Charge a click of `images` ((model, inputs) per image) for the visitor known by `keys`.
        `prepaid`: the caller holds the quota for them (a batch); the budget is still charged here."""
        prices = [image_price(model, inputs) for model, inputs in images]
        tab = Tab(prices)
        if own_token:
            return tab
        if self.budget is not None:
            tab.hold = self.budget.charge(sum(prices))
        if not prepaid and self.quota is not None and self.quota.enabled:
            try:
                tab.reservation = self.quota.reserve(keys, len(prices))
            except BaseException:
                if tab.hold is not None:
                    tab.hold.settle(tab.hold.usd)
                raise
        return tab
