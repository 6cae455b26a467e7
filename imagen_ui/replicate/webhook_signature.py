"""Replicate webhooks: the Standard Webhooks signature, made and checked (the route is webhook_receiver).

Replicate signs `f"{webhook-id}.{webhook-timestamp}.{raw body}"` with HMAC-SHA256, keyed by the
base64-decoded part of the secret after `whsec_` (not the secret's UTF-8 bytes, as one of Replicate's
own examples has it), and sends space-separated `v1,<base64 digest>` entries in `webhook-signature`.

Why not the `standardwebhooks` library (1.1.0), which does the same HMAC? tests/test_standard_webhooks.py
checks that it and we accept each other's signatures; we keep ours because the receiver faces
strangers and the library does not refuse their junk cleanly: a signature entry without one comma,
bad base64 or a body that is not UTF-8 raise ValueError/UnicodeDecodeError instead of its
verification error (a 500 for a forged request), it reads the clock itself (no `now` to test
replays with) with a fixed 5-minute tolerance, and it accepts a fractional timestamp by checking the
signature against its floor rather than the header's own text. This module is a few dozen lines of stdlib.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

__all__ = [
    "InvalidSignatureError",
    "MalformedSecretError",
    "MissingHeaderError",
    "StaleTimestampError",
    "WebhookVerificationError",
    "sign",
    "verify",
    "verify_headers",
]

DEFAULT_TOLERANCE = 300  # seconds a timestamp may be off (either way) before the delivery is refused
# Unix seconds have 10 digits until the year 2286; a longer "timestamp" is refused before int() reads
# it (int() of 5,000 digits raises, and a huge one costs time).
_MAX_TIMESTAMP_DIGITS = 12


class WebhookVerificationError(Exception):
    """A webhook delivery that must not be trusted."""


class MissingHeaderError(WebhookVerificationError):
    """webhook-id, webhook-timestamp or webhook-signature is missing or empty."""


class StaleTimestampError(WebhookVerificationError):
    """The timestamp is not a number, or is further than the tolerance from now (replay protection)."""


class InvalidSignatureError(WebhookVerificationError):
    """No v1 signature matches the body: tampered body, wrong secret, or not from Replicate."""


class MalformedSecretError(ValueError):
    """The signing secret is not `whsec_` + base64: our configuration, not the sender's fault."""


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedSecretError("the webhook secret is not 'whsec_' followed by base64") from None


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body)


def _digest(secret: str, msg_id: str, timestamp: int | str, body: bytes | str) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + _as_bytes(body)
    return hmac.new(_key(secret), signed, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes | str) -> str:
    """The `v1,<base64>` signature Replicate would send for this delivery (for tests and emulators)."""
    return "v1," + base64.b64encode(_digest(secret, msg_id, timestamp, body)).decode()


def verify_headers(headers: Mapping[str, str], *, now: float,
                   tolerance: int = DEFAULT_TOLERANCE) -> tuple[str, str, list[str]]:
    """The part of `verify` that needs no body: (webhook-id, webhook-timestamp, signatures) when the
    headers are all there and the timestamp is recent; else MissingHeaderError or StaleTimestampError."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = (lowered.get("webhook-id") or "").strip()
    timestamp = (lowered.get("webhook-timestamp") or "").strip()
    signatures = (lowered.get("webhook-signature") or "").split()
    if not (msg_id and timestamp and signatures):
        raise MissingHeaderError("webhook-id, webhook-timestamp and webhook-signature are all required")
    # isascii: "²".isdigit() is True, yet int() refuses it.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise StaleTimestampError("webhook-timestamp is not a unix time in seconds")
    if abs(now - int(timestamp)) > tolerance:
        raise StaleTimestampError(f"webhook-timestamp is more than {tolerance} s away from now")
    return msg_id, timestamp, signatures


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> None:
    """Check a webhook delivery's signature; return None if it is genuine, else raise.

    `headers` may use any case; `body` must be the raw request body exactly as received (a re-serialized
    JSON would not match); `now` is the current unix time (passed in, so callers and tests control it).
    Raises MissingHeaderError, StaleTimestampError or InvalidSignatureError (all WebhookVerificationError),
    and MalformedSecretError (a ValueError) for a malformed secret: a configuration error, not a bad
    delivery, and the only ValueError this raises whatever the headers hold.
    """
    msg_id, timestamp, signatures = verify_headers(headers, now=now, tolerance=tolerance)
    expected = _digest(secret, msg_id, timestamp, body)  # the header's own text is what was signed
    for entry in signatures:
        version, _, value = entry.partition(",")
        if version != "v1":
            continue  # other schemes (e.g. v1a asymmetric) are not used by Replicate
        try:
            candidate = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(candidate, expected):
            return
    raise InvalidSignatureError("no webhook signature matches")
