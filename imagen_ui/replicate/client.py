"""Async client for Replicate's HTTP API: typed errors, careful retries, sync-mode runs, safe downloads.

    async with ReplicateClient(token) as client:
        prediction = await client.run("google/imagen-4-fast", {"prompt": "a lighthouse"})
        image = await client.download(prediction.output_urls[0], expected_format="jpg")
        reference = await client.upload_file(data, filename="cat.png", content_type="image/png")
        # reference.url is what an image input of a model takes

One shared `httpx.AsyncClient` carries every call. `run()` creates the prediction in sync mode
(`Prefer: wait=W`, a short W so a cancel never waits long for the prediction's id) and, when the wait
runs out, hands it to the client's one shared poller. `client.calls` counts HTTP requests by kind.
The token is sent only to the API and to Replicate's delivery hosts, and never appears in a message.
"""

from __future__ import annotations

import asyncio
import json as _json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx

from imagen_ui.replicate.downloads import Download, DownloadPolicy, fetch, origin_of
from imagen_ui.replicate.errors import (
    AmbiguousCreateError,
    DownloadError,
    InsufficientCreditError,
    InvalidInputError,
    MalformedTokenError,
    ModelNotFoundError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PredictionAbortedError,
    PredictionCanceledError,
    PredictionError,
    PredictionFailedError,
    PredictionNotFoundError,
    PredictionTimeoutError,
    RateLimitedError,
    ReplicateError,
    SafetyFilterError,
    ServerError,
    UnauthenticatedError,
    create_refused,
    error_for_outcome,
    error_from_response,
)
from imagen_ui.replicate.files import UploadedFile
from imagen_ui.replicate.polling import Poller
from imagen_ui.replicate.prediction import TERMINAL_STATUSES, Prediction, PredictionPage
from imagen_ui.replicate.retry import RetryPolicy

__all__ = [
    "AmbiguousCreateError",
    "Download",
    "DownloadError",
    "InsufficientCreditError",
    "InvalidInputError",
    "MalformedTokenError",
    "ModelNotFoundError",
    "NetworkError",
    "NotFoundError",
    "PayloadTooLargeError",
    "Prediction",
    "PredictionAbortedError",
    "PredictionCanceledError",
    "PredictionError",
    "PredictionFailedError",
    "PredictionNotFoundError",
    "PredictionPage",
    "PredictionTimeoutError",
    "RateLimitedError",
    "ReplicateClient",
    "ReplicateError",
    "RetryPolicy",
    "SafetyFilterError",
    "ServerError",
    "TERMINAL_STATUSES",
    "UnauthenticatedError",
    "UploadedFile",
    "create_refused",
    "token_problem",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.replicate.com"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Sized for 64+ predictions in flight, each holding a sync create open, plus polls and downloads.
# Few idle ones are kept: httpcore walks every pooled connection once per idle connection on each
# request, so 64 idle ones after a burst of creates cost ~4000 checks a request (playground_load).
DEFAULT_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=16)
DOWNLOAD_LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=8)
# About 15 s of tries in all: the first at once, so a cancel still lands within the 2 s a click needs.
CANCEL_RETRY = RetryPolicy(attempts=8, base_delay=0.25, max_delay=4.0)
SYNC_READ_MARGIN = 5.0  # read timeout above the sync window: Replicate answers at the window's end
QUICK_MODEL_SECONDS = 1.5  # a model expected to finish this fast gets a 2 s window: done on the first trip
RUNTIME_SMOOTHING = 0.3  # EWMA weight of the newest run time
CLEANUP_GRACE = 3.0  # how long aclose() waits for background cancels
UPLOAD_WRITE_SECONDS = 120.0  # sending one file may take long on a slow uplink

# Failures that happen before a single byte of the request left: nothing can have been created.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Replicate's tokens are "r8_" and 37 letters and digits (older ones 40 hex digits): what may go in a
# header is printable ASCII without spaces; anything else is refused before it reaches one.
_TOKEN = re.compile(r"[\x21-\x7e]{1,256}")
_MODEL_REF = re.compile(r"^[\w.-]+/[\w.-]+$")

Mode = Literal["idempotent", "create", "cancel"]
Route = Literal["model", "prediction", "other"]
OnUpdate = Callable[[Prediction], None]


@dataclass(frozen=True)
class _Failure:
    """A request that got no HTTP answer: why, and whether it certainly never left this process."""

    reason: str
    not_sent: bool


_NO_FAILURE = _Failure("", not_sent=False)


class _Secret:
    """Holds the token so that no repr, vars() dump or debugger view shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    def reveal(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return "<token set>" if self._value else "<no token>"


class ReplicateClient:
    """Replicate API client. Use as `async with`, or call `aclose()` when done.

    `http` may be a caller-owned `httpx.AsyncClient` (then the caller closes it); `timeout` applies to
    the client this creates. `extra_download_origins` (e.g. "http://127.0.0.1:9000") lets `download()`
    fetch from plain-http mirrors or test servers, always WITHOUT the token.

    `webhook_grace` (seconds) is for an app whose predictions carry a webhook that reaches `resolve()`:
    polling becomes a late safety net (first poll at the expected end + grace, or grace from now when
    the run time is unknown; then every max(poll_interval, grace)), so working webhooks mean no status
    calls at all. Leave it None when some predictions are created without a webhook: they would wait
    up to the grace for news.
    """

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        max_download_bytes: int = 50 * 2**20,
        poll_interval: float = 0.5,
        http: httpx.AsyncClient | None = None,
        user_agent: str = "imagen-ui/0.1",
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        extra_download_origins: Iterable[str] = (),
        webhook_grace: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_origin = origin_of(self.base_url)
        self._download_policy = DownloadPolicy(self.base_url, extra_download_origins)
        if token and (problem := token_problem(token)):
            raise MalformedTokenError(f"the API token {problem}")
        self._token = _Secret(token or None)
        self.max_download_bytes = max_download_bytes
        self.poll_interval = poll_interval
        self.user_agent = user_agent
        self.retry = retry
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=timeout, limits=DEFAULT_LIMITS, headers={"User-Agent": user_agent}
        )
        self._timeout = self._http.timeout
        # Downloads get a small pool of their own, entered a few at a time: httpcore scans every
        # connection of a pool per request, so 64 downloads sharing the pool of 64 open sync
        # creates cost ~8 ms of CPU each; a browser-like handful in parallel is as fast on the wire.
        self._downloads = httpx.AsyncClient(
            timeout=self._timeout, limits=DOWNLOAD_LIMITS, headers={"User-Agent": user_agent}
        )
        self._download_slots = asyncio.Semaphore(DOWNLOAD_LIMITS.max_connections or 8)
        self.calls: Counter[str] = Counter()
        self._runtimes: dict[str, float] = {}
        self._background: set[asyncio.Task[Any]] = set()
        if webhook_grace is not None and webhook_grace < 0:
            raise ValueError("webhook_grace must not be negative")
        self._poller = Poller(
            get=self.get_prediction, list_recent=self._list_recent, interval=poll_interval, webhook_grace=webhook_grace
        )

    def __repr__(self) -> str:
        return f"ReplicateClient(base_url={self.base_url!r}, token={self._token!r})"

    async def __aenter__(self) -> ReplicateClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Let pending remote cancels finish (briefly), stop the poller, close our HTTP client."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=CLEANUP_GRACE)
        await self._poller.aclose()
        await self._downloads.aclose()
        if self._owns_http:
            await self._http.aclose()

    # -- plain API calls ------------------------------------------------------------------------------

    async def account(self) -> dict[str, Any]:
        """`GET /v1/account`: the cheapest way to check a token."""
        return await self._request("GET", "/v1/account", kind="account")

    async def get_model(self, model: str) -> dict[str, Any]:
        """`GET /v1/models/{owner}/{name}`: the model JSON, including `latest_version.openapi_schema`."""
        return await self._request("GET", f"/v1/models/{_model_path(model)}", kind="model", route="model")

    async def webhook_secret(self) -> str:
        """The account's webhook signing secret (`whsec_...`)."""
        data = await self._request("GET", "/v1/webhooks/default/secret", kind="webhook_secret")
        key = data.get("key") if isinstance(data, dict) else None
        if not isinstance(key, str):
            raise ReplicateError("the webhook secret answer has no 'key'")
        return key

    async def create_prediction(
        self,
        model: str,
        input: dict[str, Any],
        *,
        wait: int | None = None,
        webhook: str | None = None,
        webhook_events_filter: list[str] | None = None,
        cancel_after: str | None = None,
    ) -> Prediction:
        """`POST /v1/models/{owner}/{name}/predictions`. `wait` (1..60 s) asks for sync mode (`Prefer: wait=N`).

        Retried only when nothing can have been created (429, or a connection that never opened);
        a timeout, dropped connection or 5xx after sending raises AmbiguousCreateError instead.
        """
        body: dict[str, Any] = {"input": input}
        return await self._create(
            f"/v1/models/{_model_path(model)}/predictions", body, wait, webhook, webhook_events_filter, cancel_after
        )

    async def create_prediction_by_version(
        self,
        version: str,
        input: dict[str, Any],
        *,
        wait: int | None = None,
        webhook: str | None = None,
        webhook_events_filter: list[str] | None = None,
        cancel_after: str | None = None,
    ) -> Prediction:
        """`POST /v1/predictions` with `version` ("owner/name", "owner/name:<id>" or "<id>"); else as above."""
        body: dict[str, Any] = {"version": version, "input": input}
        return await self._create("/v1/predictions", body, wait, webhook, webhook_events_filter, cancel_after)

    async def get_prediction(self, id: str) -> Prediction:
        """`GET /v1/predictions/{id}`."""
        data = await self._request("GET", f"/v1/predictions/{_segment(id)}", kind="get", route="prediction")
        return _prediction(data)

    async def list_predictions(self, cursor_url: str | None = None) -> PredictionPage:
        """`GET /v1/predictions` (newest first), or the page at `cursor_url` (a previous page's `next`)."""
        if cursor_url is not None and origin_of(cursor_url) != self._api_origin:
            raise ValueError("cursor_url must be on the API's own origin")  # never send the token elsewhere
        data = await self._request("GET", cursor_url or "/v1/predictions", kind="list")
        results = data.get("results") if isinstance(data, dict) else None
        predictions = []
        for item in results if isinstance(results, list) else []:
            try:
                predictions.append(Prediction.from_json(item))
            except ValueError:
                log.warning("skipping a malformed entry in the predictions list")
        next_url = data.get("next") if isinstance(data, dict) else None
        return PredictionPage(results=predictions, next=next_url if isinstance(next_url, str) else None)

    async def cancel_prediction(self, id: str) -> Prediction:
        """`POST /v1/predictions/{id}/cancel` (idempotent, so retried on throttling and lost connections)."""
        path = f"/v1/predictions/{_segment(id)}/cancel"
        return _prediction(await self._request("POST", path, kind="cancel", route="prediction", mode="cancel"))

    # -- the Files API ----------------------------------------------------------------------------------

    async def upload_file(
        self, data: bytes, *, filename: str, content_type: str, metadata: dict[str, Any] | None = None
    ) -> UploadedFile:
        """`POST /v1/files` (multipart `content`, `filename`, `type`, `metadata`): the file's object,
        whose `url` a model input takes. Retried like a GET: a repeated upload only leaves a spare
        file that expires (uploads are not billed). Files of 100 MB or more: PayloadTooLargeError."""
        form = {"filename": filename, "type": content_type}
        if metadata:
            form["metadata"] = _json.dumps(metadata)
        timeout = httpx.Timeout(connect=self._timeout.connect, read=self._timeout.read,
                                write=max(self._timeout.write or 0.0, UPLOAD_WRITE_SECONDS), pool=self._timeout.pool)
        answer = await self._request("POST", "/v1/files", kind="upload", files={"content": (filename, data, content_type)},
                                     data=form, timeout=timeout)
        return _uploaded(answer)

    async def get_file(self, id: str) -> UploadedFile:
        """`GET /v1/files/{id}`: NotFoundError once it was deleted or expired."""
        return _uploaded(await self._request("GET", f"/v1/files/{_segment(id)}", kind="file"))

    async def delete_file(self, id: str) -> None:
        """`DELETE /v1/files/{id}` (204). Deleting a file that is already gone raises NotFoundError."""
        await self._request("DELETE", f"/v1/files/{_segment(id)}", kind="delete_file", empty=True)

    # -- waiting and running --------------------------------------------------------------------------

    def expected_runtime(self, model: str) -> float | None:
        """The model's typical run time in seconds, learned from succeeded predictions (None until seen)."""
        return self._runtimes.get(model)

    def record_runtime(self, model: str, seconds: float) -> None:
        """Fold one observed run time into the model's estimate (also a way to seed it, e.g. from history)."""
        old = self._runtimes.get(model)
        self._runtimes[model] = seconds if old is None else old + RUNTIME_SMOOTHING * (seconds - old)

    def sync_window(self, model: str) -> int:
        """Seconds of `Prefer: wait` for a run: 2 for a model known to be quick, else 1.

        Short on purpose: a cancel arriving while the create is open waits at most this long for the id.
        """
        expected = self.expected_runtime(model)
        return 2 if expected is not None and expected <= QUICK_MODEL_SECONDS else 1

    @property
    def waiting(self) -> int:
        """How many predictions the shared poller is watching right now."""
        return self._poller.in_flight

    def resolve(self, prediction_json: dict[str, Any]) -> bool:
        """Wake the waiters of a prediction from its JSON (e.g. a webhook body), with no poll.

        Returns True if someone was waiting for it. A done prediction nobody waits for yet (its webhook
        beat the create's answer) is remembered for a while, so a `wait()`/`run()` that starts watching
        it later returns at once.
        """
        return self._poller.resolve(prediction_json)

    async def wait(
        self, prediction: Prediction, *, timeout: float | None = 600, on_update: OnUpdate | None = None
    ) -> Prediction:
        """Wait until the prediction is done (terminal, or its single output file is in) and return it.

        Does not raise for failed/canceled outcomes (see `run()` for that). When `timeout` seconds pass
        first, the prediction is canceled remotely and PredictionTimeoutError is raised.
        """
        result = await self._wait(prediction, timeout=timeout, on_update=on_update, started=None)
        self._learn(result.model or "", result)
        return result

    async def run(
        self,
        model: str,
        input: dict[str, Any],
        *,
        sync_wait: int | None = None,
        timeout: float | None = 600,
        on_update: OnUpdate | None = None,
        webhook: str | None = None,
        webhook_events_filter: list[str] | None = None,
    ) -> Prediction:
        """Create a prediction in sync mode, wait for it, and return it once its output is in.

        The result has `status == "succeeded"`, or (as Replicate's sync answers do for file outputs)
        `"processing"` with its single output file already final. Raises PredictionFailedError
        (SafetyFilterError for E005), PredictionCanceledError, PredictionAbortedError, or
        PredictionTimeoutError after `timeout` seconds (the prediction is then canceled remotely).
        `on_update` sees every new status. `webhook` (and `webhook_events_filter`) go with the create, as
        in `create_prediction()`; feed the deliveries to `resolve()`.

        Cancel-safe: if the calling task is cancelled at any point, even before the create has answered,
        the remote prediction is canceled as soon as its id is known, by a background task.
        """
        started = time.monotonic()
        latest: Prediction | None = None

        def seen(prediction: Prediction) -> None:
            nonlocal latest
            latest = prediction
            if on_update is not None:
                try:
                    on_update(prediction)
                except Exception:
                    log.exception("on_update callback failed")

        window = sync_wait if sync_wait is not None else self.sync_window(model)
        create = asyncio.ensure_future(self.create_prediction(
            model, input, wait=window, webhook=webhook, webhook_events_filter=webhook_events_filter
        ))
        try:
            prediction = await asyncio.shield(create)  # the create runs on even if we are cancelled
            seen(prediction)
            if not prediction.is_done:
                now = time.monotonic()
                remaining = None if timeout is None else max(0.0, timeout - (now - started))
                # Replicate holds a sync create open for the whole window, so its answer less the
                # window is about when the prediction was created there; the request itself may
                # have queued on the way (a burst of clicks), and polls paced from the send come early.
                created = max(started, now - window)
                prediction = await self._wait(
                    prediction, timeout=remaining, on_update=seen, started=created, model=model, bound=timeout
                )
        except asyncio.CancelledError:
            self._spawn(self._cancel_after_create(create, lambda: latest))
            raise
        self._learn(model, prediction, elapsed=time.monotonic() - started)
        error = error_for_outcome(prediction)
        if error is not None:
            raise error
        return prediction

    async def _wait(
        self,
        prediction: Prediction,
        *,
        timeout: float | None,
        on_update: OnUpdate | None,
        started: float | None,
        model: str | None = None,
        bound: float | None = None,
    ) -> Prediction:
        """Wait via the poller; past `timeout`, cancel remotely and raise (quoting `bound`, the caller's limit)."""
        if prediction.is_done:
            return prediction
        latest = prediction

        def seen(update: Prediction) -> None:
            nonlocal latest
            latest = update
            if on_update is not None:
                on_update(update)

        expected = self.expected_runtime(model or prediction.model or "")
        future = self._poller.watch(prediction, expected_runtime=expected, started=started, on_update=seen)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            pass
        canceled = await self._cancel_on_timeout(prediction.id)
        if canceled is not None and canceled.is_done and canceled.status != "canceled":
            return canceled  # it finished while we gave up: use it rather than waste it
        raise PredictionTimeoutError(
            f"prediction {prediction.id} did not finish within {bound or timeout:g} s; it was canceled",
            prediction=canceled or latest,
        )

    # -- downloads ------------------------------------------------------------------------------------

    async def download(self, url: str, *, expected_format: str | None = None) -> Download:
        """Fetch an output file under the download rules of `imagen_ui.replicate.downloads`; raises DownloadError.

        One more try after a transient failure (no answer, 429, 5xx). The bytes are returned as served.
        """
        attempt = 0
        while True:
            attempt += 1
            self.calls["download"] += 1
            try:
                return await fetch(
                    self._downloads,
                    url,
                    policy=self._download_policy,
                    authorization=self._authorization(),
                    max_bytes=self.max_download_bytes,
                    expected_format=expected_format,
                    slots=self._download_slots,
                )
            except DownloadError as exc:
                delay = self.retry.delay(attempt) if exc.transient else None
                if delay is None:
                    raise
                log.info("download failed (%s); retrying in %.2f s", exc, delay)
                await asyncio.sleep(delay)

    # -- internals ------------------------------------------------------------------------------------

    def _authorization(self) -> str | None:
        token = self._token.reveal()
        return f"Bearer {token}" if token else None

    async def _create(
        self,
        path: str,
        body: dict[str, Any],
        wait: int | None,
        webhook: str | None,
        webhook_events_filter: list[str] | None,
        cancel_after: str | None,
    ) -> Prediction:
        if webhook is not None:
            body["webhook"] = webhook
        if webhook_events_filter is not None:
            body["webhook_events_filter"] = list(webhook_events_filter)
        headers: dict[str, str] = {}
        timeout: httpx.Timeout | None = None
        if wait is not None:
            if not 1 <= wait <= 60:
                raise ValueError("wait must be between 1 and 60 seconds")
            headers["Prefer"] = f"wait={wait}"
            read = None if self._timeout.read is None else max(self._timeout.read, wait + SYNC_READ_MARGIN)
            timeout = httpx.Timeout(
                connect=self._timeout.connect, read=read, write=self._timeout.write, pool=self._timeout.pool
            )
        if cancel_after is not None:
            headers["Cancel-After"] = cancel_after
        data = await self._request(
            "POST", path, kind="create", route="model", mode="create", json=body, headers=headers, timeout=timeout
        )
        prediction = _prediction(data)
        log.debug("created prediction %s (%s)", prediction.id, prediction.status)
        return prediction

    async def _request(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        route: Route = "other",
        mode: Mode = "idempotent",
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        files: Any = None,
        data: Any = None,
        empty: bool = False,
    ) -> Any:
        """Send one API call with the retry rules of its `mode`; return the JSON answer (None when
        `empty`: a 204) or raise typed. `files`/`data` make it multipart."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        all_headers = {"User-Agent": self.user_agent, **(headers or {})}
        if (authorization := self._authorization()) is not None:
            all_headers["Authorization"] = authorization
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        if files is not None:
            extra.update(files=files, data=data)
        # A cancel not delivered leaves a billed prediction running: it keeps trying for longer.
        policy = CANCEL_RETRY if mode == "cancel" else self.retry
        attempt = 0
        while True:
            attempt += 1
            self.calls[kind] += 1
            response, failure = await self._send(method, url, json=json, headers=all_headers, **extra)
            if response is None:
                if mode == "create" and not failure.not_sent:
                    raise AmbiguousCreateError(
                        f"create request failed after it was sent ({failure.reason}); a prediction may exist"
                    )
                delay = policy.delay(attempt)
                if delay is None:
                    raise NetworkError(f"{kind} request failed: {failure.reason}")
                log.info("%s request failed (%s); retry %d in %.2f s", kind, failure.reason, attempt, delay)
                await asyncio.sleep(delay)
                continue
            if response.is_success:
                if empty:
                    return None
                try:
                    return response.json()
                except ValueError:
                    raise ReplicateError(f"{kind}: the answer is not JSON", status=response.status_code) from None
            error = error_from_response(response, route=route)
            status = response.status_code
            if mode == "create" and status >= 500:
                raise AmbiguousCreateError(
                    f"create failed with HTTP {status}; a prediction may exist ({error.message})",
                    status=status,
                    title=error.title,
                    detail=error.detail,
                )
            # GETs and cancels are idempotent: a 5xx is worth another try (a create's is not).
            retryable = status == 429 or (status >= 500 and mode in ("idempotent", "cancel"))
            retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
            delay = policy.delay(attempt, retry_after) if retryable else None
            if delay is None:
                raise error
            log.info("%s request got HTTP %d; retry %d in %.2f s", kind, status, attempt, delay)
            await asyncio.sleep(delay)

    async def _send(self, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response | None, _Failure]:
        """One HTTP exchange. A transport failure comes back as a plain description, not raised: httpx's
        exception holds the request (whose headers hold the token), and an exception raised while
        handling it would keep it reachable as `__context__`."""
        try:
            return await self._http.request(method, url, **kwargs), _NO_FAILURE
        except httpx.TransportError as exc:
            # A local protocol error quotes the offending header, which may be the Authorization one.
            detail = "" if isinstance(exc, httpx.LocalProtocolError) else str(exc)
            reason = f"{type(exc).__name__}: {detail}".rstrip(": ")[:300]
            return None, _Failure(reason, not_sent=isinstance(exc, _NOT_SENT))

    async def _list_recent(self) -> list[Prediction]:
        return (await self.list_predictions()).results

    def _learn(self, model: str, prediction: Prediction, elapsed: float | None = None) -> None:
        # Creation to completion is what paces the polls (a create waits in Replicate's queue
        # too); the model's own predict_time is the fallback. A sync answer that came back
        # "processing" with its output in has no metrics yet: the wait itself (`elapsed`, send to
        # answer) is then the run time, a little over.
        seconds = prediction.total_time or prediction.predict_time
        if seconds is None and prediction.status in ("starting", "processing") and prediction.has_final_output:
            seconds = elapsed
        if model and prediction.status in ("succeeded", "starting", "processing") and seconds is not None:
            self.record_runtime(model, seconds)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run cleanup in the background, referenced until done (so it is neither GC'd nor forgotten)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _cancel_quietly(self, id: str) -> Prediction | None:
        try:
            prediction = await self.cancel_prediction(id)
        except ReplicateError as exc:
            log.warning("could not cancel prediction %s: %s", id, exc)
            return None
        log.info("canceled prediction %s (now %s)", id, prediction.status)
        return prediction

    async def _cancel_on_timeout(self, id: str) -> Prediction | None:
        task = self._spawn(self._cancel_quietly(id))  # survives even if our caller is cancelled meanwhile
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout=10.0)
        except TimeoutError:
            return None

    async def _cancel_after_create(
        self, create: asyncio.Future[Prediction], latest: Callable[[], Prediction | None]
    ) -> None:
        """After a cancelled run(): wait for the create's answer, then cancel the remote prediction."""
        try:
            prediction = await create
        except AmbiguousCreateError as exc:
            log.warning("a canceled run's create had an unknown outcome; nothing to cancel by id: %s", exc)
            return
        except (Exception, asyncio.CancelledError):  # nothing was created, or the create itself was cancelled
            return
        newest = latest()
        if newest is not None and newest.id == prediction.id:
            prediction = newest
        if not prediction.is_terminal:
            await self._cancel_quietly(prediction.id)


def token_problem(token: str) -> str | None:
    """Why `token` cannot be a Replicate API token, in words that quote none of it; None if it can."""
    if _TOKEN.fullmatch(token):
        return None
    if len(token) > 256:
        return "is far too long to be a Replicate token"
    if any(ch in "\r\n" for ch in token):
        return "contains a line break"
    if any(ch.isspace() for ch in token):
        return "contains spaces"
    if not token.isascii():
        return "contains characters other than letters, digits and punctuation"
    return "contains control characters"


def _prediction(data: Any) -> Prediction:
    try:
        return Prediction.from_json(data)
    except ValueError:
        raise ReplicateError("the answer is not a prediction") from None


def _uploaded(data: Any) -> UploadedFile:
    try:
        return UploadedFile.from_json(data)
    except ValueError:
        raise ReplicateError("the answer is not a file object") from None


def _segment(value: str) -> str:
    if not value or "/" in value:
        raise ValueError("prediction ids are non-empty and contain no '/'")
    return quote(value, safe="")


def _model_path(model: str) -> str:
    """'owner/name' -> 'owner/name' path segments, refusing anything else."""
    if not _MODEL_REF.match(model):
        raise ValueError(f"model must look like 'owner/name', got {model!r}")
    return model
