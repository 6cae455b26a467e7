"""Errors in a person's words: the one place typed errors become text on the page.

No message here ever includes a token or an upstream body verbatim beyond the model's own error line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from imagen_ui.replicate.client import (
    AmbiguousCreateError,
    DownloadError,
    InsufficientCreditError,
    InvalidInputError,
    MalformedTokenError,
    ModelNotFoundError,
    NetworkError,
    PayloadTooLargeError,
    PredictionAbortedError,
    PredictionCanceledError,
    PredictionFailedError,
    PredictionTimeoutError,
    RateLimitedError,
    ReplicateError,
    SafetyFilterError,
    ServerError,
    UnauthenticatedError,
)
from imagen_ui.schema import InvalidRequest

UNEXPECTED = "Something went wrong on our side while making this image. Please try again."
TOKEN_HELP = (
    "Create a token at https://replicate.com/account/api-tokens and put it in the "
    "REPLICATE_API_TOKEN environment variable or a .env file, then restart the app."
)
# Google announced the end of its Imagen 4 endpoints for 2026-08-17 and named its Gemini image
# models ("Nano Banana") as the replacement; they take the same four controls and reference images.
SUCCESSORS = ("google/nano-banana-pro", "google/nano-banana-2")
PERMISSIVE_SAFETY = "block_only_high"


def describe(
    error: ReplicateError,
    *,
    model: str,
    inputs: Mapping[str, object] | None = None,
    has_token: bool = True,
    others: list[str] | None = None,
) -> str:
    """A sentence or two a person understands, saying what happened and what to do."""
    inputs = inputs or {}
    if isinstance(error, MalformedTokenError):
        return token_refusal(error)
    if isinstance(error, UnauthenticatedError):
        if not has_token:
            return f"No Replicate API token is set. {TOKEN_HELP}"
        return f"Replicate did not accept the API token (it may be mistyped or revoked). {TOKEN_HELP}"
    if isinstance(error, InsufficientCreditError):
        return (
            "Your Replicate account is out of credit. Add credit at "
            "https://replicate.com/account/billing and try again."
        )
    if isinstance(error, RateLimitedError):
        wait = _seconds(getattr(error, "retry_after", None))
        when = f"in about {wait}" if wait else "in a few seconds"
        return f"Replicate is rate-limiting this account right now. Try again {when}."
    if isinstance(error, ModelNotFoundError):
        others = ", ".join(others or [m for m in SUCCESSORS if m != model])
        return (
            f"Replicate has no model {model} (it may have been withdrawn: Google retired its "
            f"Imagen 4 endpoints in 2026). Try another model, e.g. {others}."
        )
    if isinstance(error, SafetyFilterError):
        if inputs.get("safety_filter_level") != PERMISSIVE_SAFETY:
            return (
                "Google's safety filter blocked this image. Set 'Safety filter' to "
                "'Most permissive (block only high)' or rephrase the prompt."
            )
        return "Google's safety filter blocked this image even at its most permissive level. Rephrase the prompt."
    if isinstance(error, PredictionTimeoutError):
        return "The model took too long, so the prediction was cancelled on Replicate. Try again."
    if isinstance(error, PredictionAbortedError):
        return "Replicate stopped this prediction before it ran. Try again."
    if isinstance(error, PredictionCanceledError):
        return "Cancelled."
    if isinstance(error, PredictionFailedError):
        detail = _one_line(getattr(getattr(error, "prediction", None), "error", None))
        return f"The model failed: {detail}" if detail else "The model failed without saying why. Try again."
    if isinstance(error, InvalidInputError):
        return f"Replicate rejected the input: {_fields(error)}"
    if isinstance(error, AmbiguousCreateError) and (error.status or 0) >= 500:
        return (
            "Replicate had a server error while the image was being requested. It was not re-sent "
            "automatically, so you are not billed twice; try again in a moment."
        )
    if isinstance(error, AmbiguousCreateError):
        return (
            "The connection to Replicate broke while the image was being requested. It was not "
            "re-sent, so you are not billed twice; it may still appear in your Replicate dashboard."
        )
    if isinstance(error, NetworkError):
        return "Could not reach Replicate (network trouble). Check the connection and try again."
    if isinstance(error, ServerError):
        return "Replicate had a server error. Try again in a moment."
    if isinstance(error, DownloadError):
        return "The image Replicate returned could not be downloaded or was not a valid image. Try again."
    return "Replicate reported an error. Try again in a moment."



def describe_upload(error: ReplicateError, *, name: str, has_token: bool = True) -> str:
    """Why an input image could not be sent to Replicate, and what to do."""
    if isinstance(error, UnauthenticatedError):
        return describe(error, model="", has_token=has_token)
    if isinstance(error, PayloadTooLargeError):
        return f"{name} is too large for Replicate's file uploads (under 100 MB). Use a smaller image."
    if isinstance(error, RateLimitedError):
        return f"Replicate is rate-limiting uploads right now, so {name} was not sent. Try again in a few seconds."
    if isinstance(error, (NetworkError, ServerError)):
        return f"{name} could not be uploaded to Replicate (network or server trouble). Nothing was generated; try again."
    return f"{name} could not be uploaded to Replicate. Nothing was generated; try again."


def opened_instead(wanted: str, opened: str) -> str:
    """The once-said notice when the page opens on another model than it is set up for."""
    return (f"{wanted} is no longer available on Replicate (Google retired its Imagen 4 models in 2026), "
            f"so this page opened on {opened}. Your history is kept; Reuse settings works with the other models.")


def token_refusal(error: ReplicateError) -> str:
    """What the token panel says when a visitor's token was refused (never any of the token)."""
    if isinstance(error, MalformedTokenError):
        problem = error.message.removeprefix("the API token ")
        return (f"That is not a Replicate API token: it {problem}. Copy it again from "
                "https://replicate.com/account/api-tokens.")
    if error.status == 401:
        return "Replicate did not accept that token. Check it and try again."
    return "Could not check the token with Replicate right now. Try again in a moment."


def parse_image_count(value: object, maximum: int) -> int:
    """The number of images to make: a whole number from 1 to `maximum`, else InvalidRequest."""
    if isinstance(value, bool):
        value = None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int like 10**400
        number = math.nan
    if not number.is_integer() or not 1 <= number <= maximum:
        raise InvalidRequest.single(
            "num_images", f"Number of images must be a whole number from 1 to {maximum}."
        )
    return int(number)


def _seconds(value: object) -> str | None:
    try:
        seconds = max(1, math.ceil(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _fields(error: InvalidInputError) -> str:
    fields = getattr(error, "invalid_fields", None) or []
    parts = [_one_line(f.get("description") or f.get("field")) for f in fields if isinstance(f, dict)]
    return "; ".join(p for p in parts if p) or _one_line(getattr(error, "detail", "")) or "invalid input."
