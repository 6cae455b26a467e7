"""`POST /webhooks/replicate`: Replicate's webhook deliveries, verified, de-duplicated and ordered.

    receiver = WebhookReceiver(secret_provider=client.webhook_secret, on_prediction=client.resolve)
    demo.launch(app_kwargs={"routes": [receiver.route]})   # on the server launch() starts
    receiver.mount(app)                                     # or on any Starlette/FastAPI app

A delivery is handed to `on_prediction` only when its Standard Webhooks signature checks out, its
timestamp is recent, its `webhook-id` is new, and it does not report an older state of a prediction
than one already seen (Replicate retries and reorders deliveries). Everything else is answered at
once with a short message that reveals nothing; no slow work happens while Replicate waits.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import FIFOCache
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from imagen_ui.replicate.prediction import TERMINAL_STATUSES
from imagen_ui.replicate.webhook_signature import (
    DEFAULT_TOLERANCE,
    InvalidSignatureError,
    MalformedSecretError,
    MissingHeaderError,
    StaleTimestampError,
    verify,
    verify_headers,
)

__all__ = ["WEBHOOK_PATH", "WebhookReceiver"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/replicate"
# A prediction's JSON, logs included, is far smaller (an image model's is a few KB).
MAX_BODY_BYTES = 2**20
# Bodies read at once, all deliveries together: memory stays under this times MAX_BODY_BYTES however
# many forged deliveries arrive (40 of 5 MB at once took 130 MB). A delivery beyond it is answered
# 503 at once, unread; Replicate retries, and polling is the safety net meanwhile.
MAX_DELIVERIES_IN_FLIGHT = 8
# A bad signature may mean the secret was rotated, so the secret is fetched again, but not more often
# than this: otherwise anyone could make the app call Replicate's API once per forged request.
# Replicate retries a rejected terminal delivery for about a minute, so a real rotation still lands.
SECRET_REFRESH_INTERVAL = 10.0

SecretProvider = Callable[[], Awaitable[str]]
OnPrediction = Callable[[dict[str, Any]], object]


class _SecretUnavailable(Exception):
    """The secret could not be fetched, or is malformed: a problem on our side, not the sender's."""


class WebhookReceiver:
    """Receives Replicate webhooks for one app. Create one, then mount its `route`.

    `secret_provider` returns the `whsec_...` signing secret (e.g. `ReplicateClient.webhook_secret`);
    it is called once and cached, and called again after a signature mismatch (at most once every
    `secret_refresh_interval` seconds) in case the secret was rotated. `on_prediction` gets each
    accepted prediction JSON, on the server's event loop; it must be quick (e.g.
    `ReplicateClient.resolve`), and if it returns an awaitable, that runs as a background task.
    `clock` gives unix seconds (for the timestamp check); `max_seen` bounds the memory of delivery
    ids and of predictions' latest states. `counts` tallies outcomes by name, for logs and tests.
    """

    def __init__(
        self,
        *,
        secret_provider: SecretProvider,
        on_prediction: OnPrediction,
        tolerance: float = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.time,
        max_seen: int = 10_000,
        path: str = WEBHOOK_PATH,
        secret_refresh_interval: float = SECRET_REFRESH_INTERVAL,
    ) -> None:
        if max_seen < 1:
            raise ValueError("max_seen must be at least 1")
        self.path = path
        self.tolerance = tolerance
        self.counts: Counter[str] = Counter()
        self._secret_provider = secret_provider
        self._on_prediction = on_prediction
        self._clock = clock
        self._refresh_interval = secret_refresh_interval
        self._secret: str | None = None
        self._fetched_at = float("-inf")  # time.monotonic() of the last fetch
        self._secret_lock = asyncio.Lock()
        # The latest `max_seen` of each, by when they were last recorded (cachetools' FIFOCache: a
        # key set again moves to the end; looking one up does not).
        self._seen_ids: FIFOCache[str, None] = FIFOCache(maxsize=max_seen)
        self._progress: FIFOCache[str, tuple[int, str]] = FIFOCache(maxsize=max_seen)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reading = 0  # deliveries whose body is being read or checked now
        self.route = Route(path, self.handle, methods=["POST"], name="replicate_webhook")

    def mount(self, app: Any) -> None:
        """Add the route to a Starlette or FastAPI app, ahead of its other routes (so a catch-all
        mount such as `gr.mount_gradio_app(app, demo, path="/")` cannot shadow it). Works on a
        running app, e.g. the one `demo.launch(prevent_thread_lock=True)` returns."""
        routes = app.router.routes
        if self.route not in routes:
            routes.insert(0, self.route)

    async def handle(self, request: Request) -> Response:
        """Answer one delivery: 2xx when it was taken (or was already known), 4xx when refused."""
        if self._reading >= MAX_DELIVERIES_IN_FLIGHT:
            return self._answer(503, "busy", "busy, retry later")
        self._reading += 1
        try:
            return await self._handle(request)
        finally:
            self._reading -= 1

    async def _handle(self, request: Request) -> Response:
        try:
            # Headers first: what is refused on them alone is refused unread.
            verify_headers(request.headers, now=self._clock(), tolerance=self.tolerance)
        except MissingHeaderError:
            return self._answer(400, "missing_headers", "missing webhook headers")
        except StaleTimestampError:
            return self._answer(400, "bad_timestamp", "webhook timestamp out of range")
        body = await _read_body(request, MAX_BODY_BYTES)
        if body is None:
            return self._answer(413, "too_large", "payload too large")
        try:
            await self._verify(request.headers, body)
        except MissingHeaderError:
            return self._answer(400, "missing_headers", "missing webhook headers")
        except StaleTimestampError:
            return self._answer(400, "bad_timestamp", "webhook timestamp out of range")
        except InvalidSignatureError:
            return self._answer(401, "bad_signature", "invalid webhook signature")
        except _SecretUnavailable:
            return self._answer(503, "no_secret", "webhook verification unavailable")  # Replicate retries

        try:
            prediction = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            prediction = None
        if not isinstance(prediction, dict) or not isinstance(prediction.get("id"), str):
            return self._answer(400, "not_a_prediction", "not a prediction")

        # From here to the end there is no await: checking and recording cannot interleave with
        # another delivery of the same prediction.
        delivery_id = request.headers["webhook-id"]
        if delivery_id in self._seen_ids:
            return self._answer(200, "duplicate", "duplicate")
        progress = _progress_of(prediction)
        seen = self._progress.get(prediction["id"])
        if seen is not None and _is_older(progress, seen):
            self._seen_ids[delivery_id] = None
            return self._answer(200, "out_of_order", "ignored: older state")
        try:
            outcome = self._on_prediction(prediction)
        except Exception:
            log.exception("webhook handler failed for prediction %s", prediction["id"])
            return self._answer(500, "handler_failed", "not processed")  # not remembered: a retry may work
        if inspect.isawaitable(outcome):
            self._run_in_background(outcome)
        self._seen_ids[delivery_id] = None
        self._progress[prediction["id"]] = progress
        return self._answer(200, "accepted", "ok")

    # -- the secret -------------------------------------------------------------------------------------

    async def _verify(self, headers: Any, body: bytes) -> None:
        secret = await self._current_secret()
        now = self._clock()
        try:
            self._check(secret, headers, body, now)
        except InvalidSignatureError:
            fresh = await self._refreshed_secret(secret)
            if fresh is None:
                raise
            self._check(fresh, headers, body, now)

    def _check(self, secret: str, headers: Any, body: bytes, now: float) -> None:
        try:
            verify(secret, headers, body, now=now, tolerance=self.tolerance)  # type: ignore[arg-type]
        except MalformedSecretError:
            log.error("the webhook signing secret is malformed")
            raise _SecretUnavailable from None

    async def _current_secret(self) -> str:
        if self._secret is None:
            async with self._secret_lock:
                if self._secret is None:
                    await self._fetch_secret()
        assert self._secret is not None
        return self._secret

    async def _refreshed_secret(self, stale: str) -> str | None:
        """A newer secret than `stale`, or None when there is none (or it was fetched too recently)."""
        async with self._secret_lock:
            if self._secret != stale:
                return self._secret  # another delivery refreshed it meanwhile
            if time.monotonic() - self._fetched_at < self._refresh_interval:
                return None
            await self._fetch_secret()
            return self._secret if self._secret != stale else None

    async def _fetch_secret(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            secret = await self._secret_provider()
        except Exception as exc:  # its message could hold anything: log the kind only
            log.error("could not fetch the webhook signing secret (%s)", type(exc).__name__)
            raise _SecretUnavailable from None
        if not isinstance(secret, str) or not secret:
            log.error("the webhook signing secret provider returned no secret")
            raise _SecretUnavailable
        self._secret = secret

    # -- bookkeeping ------------------------------------------------------------------------------------

    def _run_in_background(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)  # referenced until done, so it is neither collected nor forgotten
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook background work failed", exc_info=task.exception())

    def _answer(self, status: int, outcome: str, message: str) -> Response:
        self.counts[outcome] += 1
        return PlainTextResponse(message, status_code=status)


def _progress_of(prediction: dict[str, Any]) -> tuple[int, str]:
    """(rank, time): starting 0 < processing 1 < terminal 2, then the latest timestamp it carries."""
    status = prediction.get("status")
    rank = 2 if status in TERMINAL_STATUSES else 1 if status == "processing" else 0
    when = prediction.get("completed_at") or prediction.get("started_at") or prediction.get("created_at")
    return rank, when if isinstance(when, str) else ""


def _is_older(new: tuple[int, str], seen: tuple[int, str]) -> bool:
    """True if `new` reports less than `seen` did. Nothing follows a terminal state; equal
    non-terminal states pass (an `output` and a `logs` event carry different news)."""
    if seen[0] == 2:
        return True
    return new[0] < seen[0] or (new[0] == seen[0] and bool(new[1] and seen[1]) and new[1] < seen[1])


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body (signatures cover the exact bytes), or None when it is larger than `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 12 or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
