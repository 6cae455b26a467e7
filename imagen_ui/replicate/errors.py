"""One hierarchy of typed errors for everything that can go wrong talking to Replicate.

Errors are typed here, where they arise; turning them into a person's words happens elsewhere.
No message built in this module ever contains a request, its headers or the API token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from imagen_ui.replicate.prediction import Prediction

__all__ = [
    "AmbiguousCreateError",
    "DownloadError",
    "InsufficientCreditError",
    "InvalidInputError",
    "MalformedTokenError",
    "ModelNotFoundError",
    "NetworkError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PredictionAbortedError",
    "PredictionCanceledError",
    "PredictionError",
    "PredictionFailedError",
    "PredictionNotFoundError",
    "PredictionTimeoutError",
    "RateLimitedError",
    "ReplicateError",
    "SafetyFilterError",
    "ServerError",
    "UnauthenticatedError",
    "create_refused",
    "error_for_outcome",
    "error_from_response",
    "parse_retry_after",
]


class ReplicateError(Exception):
    """Base of every error raised by the Replicate client.

    `status` is the HTTP status when there was one; `title` and `detail` come from the problem JSON body.
    """

    def __init__(
        self, message: str, *, status: int | None = None, title: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.title = title
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"


class UnauthenticatedError(ReplicateError):
    """401: the token is missing, wrong or revoked."""


class MalformedTokenError(UnauthenticatedError):
    """A token that cannot be one of Replicate's (spaces, line breaks, control or non-ASCII
    characters, or far too long): refused before it is put in any header. Holds nothing of it."""


class InsufficientCreditError(ReplicateError):
    """402: the account has no credit left."""


class NotFoundError(ReplicateError):
    """404 on a route that is neither a model's nor a prediction's."""


class ModelNotFoundError(NotFoundError):
    """404 on a model route: unknown, private or withdrawn model (or version)."""


class PredictionNotFoundError(NotFoundError):
    """404 on a prediction route: unknown id, or one this token may not see."""


class PayloadTooLargeError(ReplicateError):
    """413: the upload is too large (the Files API takes files under 100 MB)."""


class InvalidInputError(ReplicateError):
    """422: the input did not match the model's schema.

    `invalid_fields` is Replicate's list of `{"type", "field", "description"}` dicts (may be empty).
    """

    def __init__(self, message: str, *, invalid_fields: list[dict[str, Any]] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.invalid_fields: list[dict[str, Any]] = list(invalid_fields or [])


class RateLimitedError(ReplicateError):
    """429: throttled. `retry_after` is the server's hint in seconds, when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(ReplicateError):
    """5xx from Replicate on a request that is safe to have failed (not a create)."""


class NetworkError(ReplicateError):
    """The request got no HTTP answer: connection refused or dropped, or a timeout."""


class AmbiguousCreateError(NetworkError):
    """A create whose outcome is unknown (read timeout, dropped connection, 5xx).

    A prediction may or may not exist and may be billed; it was deliberately not re-sent.
    """


class DownloadError(ReplicateError):
    """An output file could not be fetched, or failed a guard (scheme, host, size, not an image, format).

    `transient` is True for failures worth one more try (no answer, 429, 5xx).
    """

    def __init__(self, message: str, *, transient: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.transient = transient


class PredictionError(ReplicateError):
    """A prediction ended without a usable output. `prediction` is its last known state."""

    def __init__(self, message: str, *, prediction: Prediction, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.prediction = prediction


class PredictionFailedError(PredictionError):
    """The model ran and failed (`status == "failed"`); `prediction.error` says why."""


class SafetyFilterError(PredictionFailedError):
    """The model's safety filter rejected the input or output (Replicate's E005)."""


class PredictionCanceledError(PredictionError):
    """The prediction was canceled (by us, by someone else, or by a Cancel-After deadline)."""


class PredictionAbortedError(PredictionError):
    """The prediction ended before it ever ran (`status == "aborted"`)."""


class PredictionTimeoutError(PredictionError):
    """The client's wall-clock bound ran out; the prediction was canceled remotely."""


_SAFETY_MARKERS = ("E005", "flagged as sensitive")


def error_for_outcome(prediction: Prediction) -> PredictionError | None:
    """The error a finished prediction stands for, or None if it succeeded (or is not finished)."""
    status = prediction.status
    text = str(prediction.error or "")
    if status == "failed":
        if any(marker.lower() in text.lower() for marker in _SAFETY_MARKERS):
            return SafetyFilterError(text or "flagged as sensitive", prediction=prediction)
        return PredictionFailedError(text or f"prediction {prediction.id} failed", prediction=prediction)
    if status == "canceled":
        return PredictionCanceledError(f"prediction {prediction.id} was canceled", prediction=prediction)
    if status == "aborted":
        return PredictionAbortedError(
            text or f"prediction {prediction.id} was aborted before it ran", prediction=prediction
        )
    return None


def parse_retry_after(response: httpx.Response, body: Any = None) -> float | None:
    """Seconds to wait from the `Retry-After` header (delta-seconds) or a body `retry_after`."""
    header = (response.headers.get("retry-after") or "").strip()
    try:
        if header:
            return max(0.0, float(header))
    except ValueError:
        pass  # an HTTP-date: rare for Replicate; fall through to the body or our own backoff
    if isinstance(body, dict) and isinstance(body.get("retry_after"), (int, float)):
        return max(0.0, float(body["retry_after"]))
    return None


def _problem(response: httpx.Response) -> tuple[dict[str, Any], str | None, str | None]:
    """The JSON body (or {}), its title and its detail, tolerating any shape."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return {}, None, None

    def text(key: str) -> str | None:
        value = body.get(key)
        return value if isinstance(value, str) and value.strip() else None

    return body, text("title"), text("detail") or text("error") or text("message")


def error_from_response(response: httpx.Response, *, route: str = "other") -> ReplicateError:
    """Map an HTTP error answer to its typed error.

    `route` is "model" (model and version routes), "prediction" or "other"; it decides what a 404 means.
    The message is built from the status and the problem JSON only, never from the request.
    """
    status = response.status_code
    body, title, detail = _problem(response)
    summary = ": ".join(part for part in (title, detail) if part) or response.reason_phrase or "error"
    message = f"{summary} (HTTP {status})"
    kw: dict[str, Any] = {"status": status, "title": title, "detail": detail}
    if status == 401:
        return UnauthenticatedError(message, **kw)
    if status == 402:
        return InsufficientCreditError(message, **kw)
    if status == 404:
        cls = {"model": ModelNotFoundError, "prediction": PredictionNotFoundError}.get(route, NotFoundError)
        return cls(message, **kw)
    if status == 413:
        return PayloadTooLargeError(message, **kw)
    if status == 422:
        fields = body.get("invalid_fields")
        fields = [f for f in fields if isinstance(f, dict)] if isinstance(fields, list) else []
        descriptions = "; ".join(str(f.get("description") or f.get("field")) for f in fields)
        if descriptions and descriptions not in message:
            message = f"{message}: {descriptions}"
        return InvalidInputError(message, invalid_fields=fields, **kw)
    if status == 429:
        return RateLimitedError(message, retry_after=parse_retry_after(response, body), **kw)
    if status >= 500:
        return ServerError(message, **kw)
    return ReplicateError(message, **kw)


def create_refused(error: BaseException) -> bool:
    """True when `error`, raised by a create, means certainly no prediction exists: Replicate
    answered it with a 4xx, or the request never left this process. A timeout, a dropped connection
    or a 5xx after sending (AmbiguousCreateError) may have created one: False, as for anything else."""
    if isinstance(error, AmbiguousCreateError) or not isinstance(error, ReplicateError):
        return False
    if isinstance(error, MalformedTokenError) or type(error) is NetworkError:
        return True
    return error.status is not None and 400 <= error.status < 500
