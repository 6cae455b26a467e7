"""Responses in Replicate's shapes: JSON bodies and ``application/problem+json`` errors."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Iterable, Mapping

from starlette.responses import Response

from .validation import InvalidField, detail_of

PROBLEM = "application/problem+json"
_NO_CREDIT = (
    "You have insufficient credit to run this model. Go to https://replicate.com/account/billing#billing "
    "to purchase credit. Once you purchase credit, please wait a few minutes before trying again."
)


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None,
                  media_type: str = "application/json") -> Response:
    return Response(dumps(data), status_code=status, headers=dict(headers or {}), media_type=media_type)


def problem(status: int, title: str, detail: str, headers: Mapping[str, str] | None = None,
            **extra: Any) -> Response:
    return json_response({"title": title, "detail": detail, "status": status, **extra}, status, headers, PROBLEM)


def not_found() -> Response:
    # Replicate's 404 body is just this, for unknown models and predictions alike.
    return json_response({"detail": "Not found"}, 404, media_type=PROBLEM)


def unauthenticated() -> Response:
    return problem(401, "Unauthenticated", "You did not pass a valid authentication token")


def bad_request(detail: str) -> Response:
    return problem(400, "Bad Request", detail)


def invalid(fields: Iterable[InvalidField], title: str = "Input validation failed") -> Response:
    fields = list(fields)
    return problem(422, title, detail_of(fields), invalid_fields=[f.as_json() for f in fields])


def throttled(retry_after: int) -> Response:
    unit = "second" if retry_after == 1 else "seconds"
    text = f"Request was throttled. Expected available in {retry_after} {unit}."
    return problem(429, text, text, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


def for_status(status: int, retry_after: int = 1) -> Response:
    """An injected fault's answer, in the shape Replicate gives that status."""
    if status == 401:
        return unauthenticated()
    if status == 402:
        return problem(402, "Insufficient credit", _NO_CREDIT)
    if status == 404:
        return not_found()
    if status == 429:
        return throttled(retry_after)
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return problem(status, title, f"{title}: the emulator was told to fail this request.")
