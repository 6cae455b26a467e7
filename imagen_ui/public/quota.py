"""Per-visitor quotas on the host's Replicate token, for public demos (share link, Hugging Face Space).

Two limits, each 0 for "no limit": images per visitor in any sliding hour, and generations running
at once per visitor. A visitor is known by several keys (`visitor_keys`: browser id and network
address) and a request must fit under the limits of EVERY key: clearing cookies does not reset the
address's count, and a new address does not reset the browser's. The price: people behind one address
(an office, a school) share that address's hour and its running slots.

Counts live in memory, so a restart resets them. All calls are short and lock-protected, safe from
the event loop and from Gradio's worker threads alike; nothing here awaits.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from imagen_ui.public.proxies import IPAddress, ProxyTrust, parse_ip
from imagen_ui.public.visitors import visitor_id

if TYPE_CHECKING:
    from imagen_ui.settings import Settings

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 3600.0
MAX_KEYS = 100_000  # ~ tens of MB at worst; beyond it the least recently charged keys are forgotten
UNLIMITED = sys.maxsize  # what `remaining` says when there is no hourly limit
VISITOR_PREFIX = "v:"
ADDRESS_PREFIX = "ip:"
ANONYMOUS_KEY = "anonymous"  # a request that nothing identifies shares this one key
OWN_TOKEN_HINT = "paste your own Replicate token under \"Use your own Replicate token\" to lift the limit"

Reason = Literal["hourly", "concurrent"]


class QuotaExceeded(Exception):
    """A request over a visitor's quota. `str(error)` is a message for the visitor;
    `retry_at_seconds` is how many seconds from now it would fit (None: when something finishes)."""

    def __init__(self, message: str, retry_at_seconds: float | None = None, *, reason: Reason = "hourly"):
        super().__init__(message)
        self.message = message
        self.retry_at_seconds = retry_at_seconds
        self.reason = reason


class _Charge:
    """Images counted at one moment; shared by all keys of one reservation, so a refund reaches each."""

    __slots__ = ("at", "images")

    def __init__(self, at: float, images: int) -> None:
        self.at = at
        self.images = images


class Reservation:
    """What `Quota.reserve` granted: a running slot and `images` counted against the hour.

    `release(used_images=k)` ends the slot and refunds the images beyond k (those never made: failed
    or cancelled before a prediction existed). As a context manager it releases on exit, counting all
    images unless `release` was already called with a smaller number.
    """

    def __init__(self, quota: Quota, keys: tuple[str, ...], images: int, charge: _Charge | None,
                 holds_slot: bool) -> None:
        self._quota = quota
        self.keys = keys
        self.images = images
        self._charge = charge
        self._holds_slot = holds_slot
        self.released = False

    def release(self, used_images: int | None = None) -> None:
        """End the running slot; refund reserved images beyond `used_images` (None: all were used).
        Only the first call counts."""
        self._quota._release(self, used_images)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class Quota:
    """Per-key limits: `images_per_hour` in a sliding hour and `concurrent` running reservations."""

    def __init__(
        self,
        *,
        images_per_hour: int,
        concurrent: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
        own_token_hint: str | None = OWN_TOKEN_HINT,
    ) -> None:
        if images_per_hour < 0 or concurrent < 0 or max_keys < 1:
            raise ValueError("limits must be 0 (no limit) or more, and max_keys at least 1")
        self.images_per_hour = images_per_hour
        self.concurrent = concurrent
        self.own_token_hint = own_token_hint  # None or "" when the page offers no token box
        self._clock = clock
        self._max_keys = max_keys
        # key -> charges, oldest first. Keys ordered by their latest charge, so expired keys are
        # found at the front and the oldest are the ones dropped at the cap.
        # Not a cachetools TTLCache (which the rest of the app uses for its caps): this order is the
        # limit's own data, and a TTLCache would count a mere look (remaining(), a refused click) as
        # use, so at the cap a visitor who keeps asking would outlive one who was charged later.
        self._windows: OrderedDict[str, deque[_Charge]] = OrderedDict()
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.images_per_hour or self.concurrent)

    @property
    def tracked_keys(self) -> int:
        """Entries held in memory: keys with images in the hour plus keys with something running."""
        return len(self._windows) + len(self._running)

    def reserve(self, keys: Sequence[str], images: int) -> Reservation:
        """Count `images` against every key's hour now and take a running slot, or raise QuotaExceeded."""
        if images < 0:
            raise ValueError("images must be 0 or more")
        unique = tuple(dict.fromkeys(keys))
        if not unique:
            raise ValueError("at least one key is needed (visitor_keys always gives one)")
        if not self.enabled:
            return Reservation(self, unique, images, None, holds_slot=False)
        with self._lock:
            now = self._clock()
            self._forget_expired(now)
            if self.images_per_hour and images:
                self._check_hour(unique, images, now)
            if self.concurrent:
                for key in unique:
                    if self._running.get(key, 0) >= self.concurrent:
                        raise QuotaExceeded(self._busy_message(key, unique), None, reason="concurrent")
            charge = None
            if self.images_per_hour and images:
                charge = _Charge(now, images)
                for key in unique:
                    self._window(key).append(charge)
                while len(self._windows) > self._max_keys:
                    self._windows.popitem(last=False)
            if self.concurrent:
                for key in unique:
                    self._running[key] = self._running.get(key, 0) + 1
            return Reservation(self, unique, images, charge, holds_slot=bool(self.concurrent))

    def remaining(self, keys: Sequence[str]) -> int:
        """Images left this hour for the tightest of `keys` (UNLIMITED when there is no hourly limit)."""
        if not self.images_per_hour:
            return UNLIMITED
        with self._lock:
            now = self._clock()
            return min((self.images_per_hour - self._used(key, now) for key in keys), default=self.images_per_hour)

    # --- internals (called with the lock held) ---------------------------------------------------

    def _window(self, key: str) -> deque[_Charge]:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque()
        else:
            self._windows.move_to_end(key)
        return window

    def _used(self, key: str, now: float) -> int:
        window = self._windows.get(key)
        if not window:
            return 0
        while window and window[0].at <= now - WINDOW_SECONDS:
            window.popleft()
        return sum(charge.images for charge in window)

    def _forget_expired(self, now: float) -> None:
        """Drop keys whose latest charge left the window: amortised O(1) per call, thanks to the order."""
        while self._windows:
            key, window = next(iter(self._windows.items()))
            if window and window[-1].at > now - WINDOW_SECONDS:
                break
            del self._windows[key]

    def _check_hour(self, keys: tuple[str, ...], images: int, now: float) -> None:
        limit = self.images_per_hour
        if images > limit:
            raise QuotaExceeded(
                f"This public demo makes at most {limit} {_images(limit)} an hour per visitor; "
                f"ask for fewer{self._hint(', or ')}.",
                None,
            )
        worst: tuple[float, str, int] | None = None  # (seconds to wait, key, images used)
        for key in keys:
            used = self._used(key, now)
            if used + images <= limit:
                continue
            wait = self._wait_for_room(key, used + images - limit, now)
            if worst is None or wait > worst[0]:
                worst = (wait, key, used)
        if worst is not None:
            wait, key, used = worst
            raise QuotaExceeded(self._hour_message(key, keys, used, images, wait), wait)

    def _wait_for_room(self, key: str, excess: int, now: float) -> float:
        """Seconds until enough of the key's oldest charges leave the window to free `excess` images."""
        freed = 0
        for charge in self._windows[key]:
            freed += charge.images
            if freed >= excess:
                return max(0.0, charge.at + WINDOW_SECONDS - now)
        return WINDOW_SECONDS  # not reached: a request never exceeds the limit on its own here

    def _release(self, reservation: Reservation, used_images: int | None) -> None:
        with self._lock:
            if reservation.released:
                return
            reservation.released = True
            if reservation._holds_slot:
                for key in reservation.keys:
                    left = self._running.get(key, 0) - 1
                    if left > 0:
                        self._running[key] = left
                    else:
                        self._running.pop(key, None)
            charge = reservation._charge
            if charge is None or used_images is None:
                return
            charge.images = min(max(0, used_images), reservation.images)
            if charge.images == 0:  # nothing was made: forget the charge altogether
                for key in reservation.keys:
                    window = self._windows.get(key)
                    if window is not None and charge in window:
                        window.remove(charge)

    # --- messages --------------------------------------------------------------------------------

    def _hint(self, joiner: str) -> str:
        return f"{joiner}{self.own_token_hint}" if self.own_token_hint else ""

    def _hour_message(self, key: str, keys: tuple[str, ...], used: int, images: int, wait: float) -> str:
        network = _is_network_key(key, keys)
        limit = self.images_per_hour
        when = _minutes(wait)
        if used >= limit:
            who = "Visitors from your network have" if network else "You have"
            return (f"{who} made {limit} {_images(limit)} this hour, the limit on this public demo. "
                    f"You can make more in {when}{self._hint(', or ')}.")
        left = limit - used
        who = "Your network has" if network else "You have"
        return (f"{who} {left} {_images(left)} left this hour on this public demo (the limit is {limit} "
                f"an hour), not enough for {images}. Ask for {left} or fewer, or wait {when}"
                f"{self._hint(', or ')}.")

    def _busy_message(self, key: str, keys: tuple[str, ...]) -> str:
        n = self.concurrent
        generations = "generation" if n == 1 else "generations"
        if _is_network_key(key, keys):
            return (f"{n} {generations} from your network {'is' if n == 1 else 'are'} already running on this "
                    "public demo, the most it allows at once; wait for one to finish.")
        return f"You already have {n} {generations} running; wait for one to finish or cancel it."


def quota_from_settings(settings: Settings) -> Quota:
    """The app's Quota: the configured limits when `settings.quotas_active`, else one that never refuses."""
    if not settings.quotas_active:
        return Quota(images_per_hour=0, concurrent=0)
    return Quota(images_per_hour=settings.quota_images_per_hour, concurrent=settings.quota_concurrent)


# --- who is asking ------------------------------------------------------------------------------


def visitor_keys(request: object, *, trust_forwarded: bool | ProxyTrust = False) -> list[str]:
    """The keys a request's quota is counted under: "v:<browser id>" and "ip:<address>", whichever
    are known, else ["anonymous"]. See `client_address` for `trust_forwarded`."""
    keys = []
    if browser := visitor_id(request):
        keys.append(VISITOR_PREFIX + browser)
    if address := client_address(request, trust_forwarded=trust_forwarded):
        keys.append(ADDRESS_PREFIX + address)
    return keys or [ANONYMOUS_KEY]


def client_address(request: object, *, trust_forwarded: bool | ProxyTrust = False) -> str | None:
    """The visitor's network address as a quota key: IPv4 as is, IPv6 as its /64 (one household's or
    phone's devices share a /64 and can pick any address in it); None when unknown.

    `trust_forwarded` (a ProxyTrust, or True for "any non-public peer is the proxy": Spaces, a share
    link's tunnel) says whose X-Forwarded-For is believed (see imagen_ui.public.proxies). Any other
    peer is known by its own address, a loopback one included: behind an untrusted proxy on this
    machine every visitor shares that one key, rather than each getting a quota per cookie (which a
    client can mint at will).
    """
    trust = ProxyTrust.of(trust_forwarded)
    peer = parse_ip(getattr(getattr(request, "client", None), "host", None))
    forwarded = _header_values(request, "x-forwarded-for")
    if forwarded and peer is not None and peer.is_loopback and not trust.trusts(peer):
        _say_once_untrusted(peer)
    address = trust.client(peer, forwarded)
    return None if address is None else _quota_address(address)


def trust_forwarded_for(settings: Settings) -> ProxyTrust:
    """Whose `x-forwarded-for` can be believed: the proxies named by --trusted-proxies; on a Space (behind
    Hugging Face's proxy) or with a share link while listening on loopback only (the tunnel connects
    from loopback and sets the header; nobody else can reach the app to forge it), any non-public peer."""
    return ProxyTrust.from_settings(settings)


_said_untrusted: set[str] = set()


def _say_once_untrusted(peer: IPAddress) -> None:
    if str(peer) in _said_untrusted:
        return
    _said_untrusted.add(str(peer))
    logger.warning("Requests arrive through a proxy at %s that sets X-Forwarded-For, which this app does not "
                   "trust: every visitor behind it counts as one (one quota, one queue). Name it with "
                   "--trusted-proxies %s if it is yours.", peer, peer)


def _header_values(request: object, name: str) -> list[str]:
    headers = getattr(request, "headers", None)
    if headers is None:
        return []
    if hasattr(headers, "getlist"):  # starlette Headers: a repeated header is several values
        return list(headers.getlist(name))
    value = headers.get(name) if hasattr(headers, "get") else None
    return [value] if value else []


def _quota_address(ip: IPAddress) -> str:
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _is_network_key(key: str, keys: tuple[str, ...]) -> bool:
    """The binding key is the address while the visitor has a browser key of their own too."""
    return key.startswith(ADDRESS_PREFIX) and len(keys) > 1


def _images(n: int) -> str:
    return "image" if n == 1 else "images"


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
