"""The host's daily budget: dollars of images on the host's token, all visitors together, per UTC day.

A click is charged its estimated cost (imagen_ui.pricing) when it starts, before anything is sent;
when it ends, the images whose create certainly never reached Replicate are refunded, and nothing
else is: a create that may have reached Replicate may be billed. A click that does not fit what is
left of the day is refused (BudgetSpent) with words a visitor understands; their own token is not
counted here. The log says the day's spend as it grows (every tenth of the budget), when it runs
out, and what the day cost when the next one begins.

Counts live in memory (a restart starts the day's count again: the log of the day says what was
spent before). `clock` gives unix seconds, so tests can move to the next day.
"""

from __future__ import annotations

import datetime
import logging
import math
import threading
import time
from collections.abc import Callable

from imagen_ui.pricing import PRICES_AS_OF, format_usd, image_price

__all__ = ["OWN_TOKEN_HINT", "Budget", "BudgetHold", "BudgetSpent"]

log = logging.getLogger(__name__)
OWN_TOKEN_HINT = ("paste your own Replicate token under \"Use your own Replicate token\" to keep going, "
                  "paid by your account")
_STEPS = 10  # the log says the spend at every tenth of the budget


class BudgetSpent(Exception):
    """A click refused because the day's budget cannot pay for it. `str()` is for the visitor."""

    title = "Today's budget is spent"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BudgetHold:
    """What `Budget.charge` took for one click; `settle(refund_usd)` gives back what was not spent."""

    def __init__(self, budget: Budget, day: datetime.date, usd: float) -> None:
        self._budget = budget
        self.day = day
        self.usd = usd
        self.settled = False

    def settle(self, refund_usd: float = 0.0) -> None:
        """Refund `refund_usd` (at most what was charged) of this click; only the first call counts."""
        self._budget._settle(self, refund_usd)


class Budget:
    """`limit_usd` a UTC day on the host's token; 0 or None means no limit (charges are still counted)."""

    def __init__(self, limit_usd: float | None, *, clock: Callable[[], float] = time.time,
                 own_token_hint: str | None = None) -> None:
        if limit_usd is not None and (not math.isfinite(limit_usd) or limit_usd < 0):
            raise ValueError("the daily budget must be a finite number of dollars, 0 or more")
        self.limit_usd = limit_usd or 0.0
        self.own_token_hint = own_token_hint  # the end of "You can …", when visitors may bring a token
        self.clock = clock  # unix seconds; a test may replace it to move to another day
        self._lock = threading.Lock()
        self._day = self._today()
        self._spent = 0.0
        self._logged_step = 0
        self._said_spent = False

    @property
    def enabled(self) -> bool:
        return self.limit_usd > 0

    def spent_today(self) -> float:
        with self._lock:
            self._roll()
            return self._spent

    def remaining(self) -> float:
        """Dollars left today (infinite when there is no limit)."""
        if not self.enabled:
            return math.inf
        return max(0.0, self.limit_usd - self.spent_today())

    def images_left(self, model: str, inputs: dict | None = None) -> int | None:
        """Images of `model` what is left today pays for (None: no limit); for a batch, checked whole."""
        if not self.enabled:
            return None
        return int(self.remaining() / image_price(model, inputs) + 1e-9)

    def charge(self, usd: float) -> BudgetHold:
        """Take `usd` for a click now, or raise BudgetSpent when today's budget cannot pay it."""
        if usd < 0 or not math.isfinite(usd):
            raise ValueError("a charge is a finite number of dollars, 0 or more")
        with self._lock:
            self._roll()
            if self.enabled and self._spent + usd > self.limit_usd + 1e-9:
                left = max(0.0, self.limit_usd - self._spent)
                if not self._said_spent:
                    self._said_spent = True
                    log.warning("Daily budget: %s of %s spent today (UTC %s); visitors on the host's token are "
                                "refused until midnight UTC", format_usd(self._spent), format_usd(self.limit_usd),
                                self._day.isoformat())
                raise BudgetSpent(self._refusal(usd, left))
            self._spent += usd
            self._log_progress()
            return BudgetHold(self, self._day, usd)

    # --- internals (lock held) -------------------------------------------------------------------

    def _today(self) -> datetime.date:
        return datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc).date()

    def _roll(self) -> None:
        today = self._today()
        if today != self._day:
            if self._spent or self.enabled:
                log.info("Daily budget: %s spent on %s (UTC)%s; a new day starts", format_usd(self._spent),
                         self._day.isoformat(), f" of {format_usd(self.limit_usd)}" if self.enabled else "")
            self._day, self._spent, self._logged_step, self._said_spent = today, 0.0, 0, False

    def _settle(self, hold: BudgetHold, refund_usd: float) -> None:
        with self._lock:
            if hold.settled:
                return
            hold.settled = True
            self._roll()
            refund = min(max(0.0, refund_usd), hold.usd)
            if refund and hold.day == self._day:  # yesterday's charges stay yesterday's
                self._spent = max(0.0, self._spent - refund)

    def _log_progress(self) -> None:
        if not self.enabled:
            return
        step = min(_STEPS, int(self._spent / self.limit_usd * _STEPS + 1e-9))
        if step > self._logged_step:
            self._logged_step = step
            log.info("Daily budget: %s of %s spent today (UTC %s; estimates from Replicate's prices of %s)",
                     format_usd(self._spent), format_usd(self.limit_usd), self._day.isoformat(), PRICES_AS_OF)

    def _refusal(self, usd: float, left: float) -> str:
        now = datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc)
        midnight = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(),
                                             datetime.timezone.utc)
        hours = max(1, math.ceil((midnight - now).total_seconds() / 3600))
        when = "in about 1 hour" if hours == 1 else f"in about {hours} hours"
        hint = f" You can {self.own_token_hint}." if self.own_token_hint else ""
        if left >= 0.005:
            return (f"This public demo's budget for today has about {format_usd(left)} left, not enough for "
                    f"this request (about {format_usd(usd)}). Ask for fewer images, or come back after "
                    f"midnight UTC ({when}).{hint}")
        return (f"This public demo has spent its budget for today (the host pays for its images, up to "
                f"{format_usd(self.limit_usd)} a day). It starts again at midnight UTC, {when}.{hint}")
