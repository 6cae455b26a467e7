"""Standard Webhooks signature check, against the published test vector and its near misses."""

from __future__ import annotations

import base64

import pytest

from imagen_ui.replicate.webhook_signature import (
    InvalidSignatureError,
    MissingHeaderError,
    StaleTimestampError,
    WebhookVerificationError,
    sign,
    verify,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(signature: str = SIGNATURE, timestamp: int | str = TIMESTAMP, msg_id: str = MSG_ID) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_published_vector_verifies() -> None:
    verify(SECRET, headers(), BODY, now=TIMESTAMP)


def test_sign_reproduces_the_published_signature() -> None:
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE


def test_body_may_be_text_and_header_names_any_case() -> None:
    mixed = {"Webhook-Id": MSG_ID, "WEBHOOK-TIMESTAMP": str(TIMESTAMP), "Webhook-Signature": SIGNATURE}
    verify(SECRET, mixed, BODY.decode(), now=TIMESTAMP)


def test_tampered_body_is_rejected() -> None:
    with pytest.raises(InvalidSignatureError):
        verify(SECRET, headers(), b'{"test": 2432232315}', now=TIMESTAMP)


def test_reserialized_body_is_rejected() -> None:
    # Same JSON value, different bytes: the check is over the raw body, as it must be.
    with pytest.raises(InvalidSignatureError):
        verify(SECRET, headers(), b'{"test":2432232314}', now=TIMESTAMP)


def test_tampered_id_is_rejected() -> None:
    with pytest.raises(InvalidSignatureError):
        verify(SECRET, headers(msg_id="msg_other"), BODY, now=TIMESTAMP)


def test_wrong_secret_is_rejected() -> None:
    other = "whsec_" + base64.b64encode(b"another secret of 24 byte").decode()
    with pytest.raises(InvalidSignatureError):
        verify(other, headers(), BODY, now=TIMESTAMP)


def test_secret_used_as_utf8_bytes_is_not_accepted() -> None:
    # Replicate's long Flask example keys the HMAC with the secret's UTF-8 bytes; that is wrong.
    import hashlib
    import hmac

    wrong = hmac.new(SECRET.encode(), f"{MSG_ID}.{TIMESTAMP}.".encode() + BODY, hashlib.sha256).digest()
    with pytest.raises(InvalidSignatureError):
        verify(SECRET, headers("v1," + base64.b64encode(wrong).decode()), BODY, now=TIMESTAMP)


@pytest.mark.parametrize("offset", [301, -301, 3600])
def test_stale_or_future_timestamp_is_rejected(offset: int) -> None:
    with pytest.raises(StaleTimestampError):
        verify(SECRET, headers(), BODY, now=TIMESTAMP + offset)


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_timestamp_within_tolerance_is_accepted(offset: int) -> None:
    verify(SECRET, headers(), BODY, now=TIMESTAMP + offset)


def test_tolerance_is_configurable() -> None:
    with pytest.raises(StaleTimestampError):
        verify(SECRET, headers(), BODY, now=TIMESTAMP + 11, tolerance=10)


def test_non_numeric_timestamp_is_rejected() -> None:
    with pytest.raises(StaleTimestampError):
        verify(SECRET, headers(timestamp="yesterday"), BODY, now=TIMESTAMP)


def test_one_matching_signature_among_several_is_enough() -> None:
    bogus = "v1," + base64.b64encode(b"x" * 32).decode()
    rotated = f"{bogus} v1a,c29tZXRoaW5n {SIGNATURE}"
    verify(SECRET, headers(rotated), BODY, now=TIMESTAMP)


def test_several_signatures_none_matching_are_rejected() -> None:
    bogus = " ".join("v1," + base64.b64encode(bytes([i]) * 32).decode() for i in range(3))
    with pytest.raises(InvalidSignatureError):
        verify(SECRET, headers(bogus + " garbage"), BODY, now=TIMESTAMP)


def test_right_digest_under_another_version_tag_is_rejected() -> None:
    with pytest.raises(InvalidSignatureError):
        verify(SECRET, headers(SIGNATURE.replace("v1,", "v2,")), BODY, now=TIMESTAMP)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_rejected(missing: str) -> None:
    incomplete = headers()
    del incomplete[missing]
    with pytest.raises(MissingHeaderError):
        verify(SECRET, incomplete, BODY, now=TIMESTAMP)


def test_all_rejections_share_one_base_class() -> None:
    for error in (MissingHeaderError, StaleTimestampError, InvalidSignatureError):
        assert issubclass(error, WebhookVerificationError)


def test_malformed_secret_is_a_configuration_error_that_does_not_echo_it() -> None:
    with pytest.raises(ValueError) as info:
        verify("whsec_not*base64!", headers(), BODY, now=TIMESTAMP)
    assert "not*base64" not in str(info.value)
