"""Our webhook signatures against the `standardwebhooks` reference library (PyPI, tests only), both ways.

imagen_ui/replicate/webhook_signature.py (the app's check) and the emulator's signer must agree with
the library on every genuine delivery and on the refusals; where ours is stricter, the last test
says so (it is why ours stays: see that module's docstring).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as TheirError

from imagen_ui.emulator.webhooks import make_secret
from imagen_ui.emulator.webhooks import sign as emulator_sign
from imagen_ui.replicate.webhook_signature import (
    InvalidSignatureError,
    WebhookVerificationError,
    sign,
    verify,
)

SECRETS = [
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # the spec's test vector
    make_secret(),  # as the emulator (and Replicate) hand them out: 24 random bytes
    make_secret(seed=7),
    "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
]
BODIES = [
    b'{"test": 2432232314}',
    json.dumps({"id": "p1", "status": "succeeded", "output": ["https://replicate.delivery/x.webp"],
                "input": {"prompt": "é 漢字 😀 \u2028 \"quoted\""}}, ensure_ascii=False).encode(),
    b"{}",
]
SIGNERS = {"app": sign, "emulator": emulator_sign}


def delivery(signature: str, timestamp: int, msg_id: str = "msg_2ZqAnH7bTW5LxJQ2QRYd") -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


@pytest.mark.parametrize("signer", SIGNERS, ids=str)
@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("body", BODIES)
def test_the_library_verifies_our_signatures(signer: str, secret: str, body: bytes) -> None:
    now = int(time.time())  # the library checks against the real clock
    headers = delivery(SIGNERS[signer](secret, "msg_2ZqAnH7bTW5LxJQ2QRYd", now, body), now)
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(TheirError):
        Webhook(secret).verify(body.replace(b"}", b" }"), headers)  # one byte more: refused
    with pytest.raises(TheirError):
        Webhook(make_secret()).verify(body, headers)  # another secret: refused


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("body", BODIES)
def test_we_verify_the_librarys_signatures(secret: str, body: bytes) -> None:
    stamp = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
    now = int(stamp.timestamp())
    theirs = Webhook(secret).sign("msg_2ZqAnH7bTW5LxJQ2QRYd", stamp, body.decode())
    assert theirs == sign(secret, "msg_2ZqAnH7bTW5LxJQ2QRYd", now, body) == emulator_sign(
        secret, "msg_2ZqAnH7bTW5LxJQ2QRYd", now, body)
    verify(secret, delivery(theirs, now), body, now=now)
    with pytest.raises(InvalidSignatureError):
        verify(secret, delivery(theirs, now), body + b" ", now=now)
    with pytest.raises(InvalidSignatureError):
        verify(make_secret(), delivery(theirs, now), body, now=now)


def test_both_take_any_matching_entry_of_a_rotated_secrets_list() -> None:
    old, new = make_secret(), make_secret()
    now, body = int(time.time()), BODIES[1]
    both = f"{sign(old, 'msg_1', now, body)} {sign(new, 'msg_1', now, body)}"
    for secret in (old, new):
        Webhook(secret).verify(body, delivery(both, now, "msg_1"))
        verify(secret, delivery(both, now, "msg_1"), body, now=now)


@pytest.mark.parametrize(
    ("signature", "body"),
    [
        ("v1", BODIES[0]),  # an entry without its comma
        ("v1,a,b", BODIES[0]),  # one comma too many
        ("v1,not base64!", BODIES[0]),
        (None, b'{"bad utf-8": "\xff"}'),  # a signed body that is not UTF-8
    ],
    ids=["no-comma", "two-commas", "bad-base64", "not-utf-8"],
)
def test_hostile_deliveries_are_refused_cleanly_by_ours_and_crash_the_library(signature, body) -> None:
    """Why ours stays: the library raises ValueError, binascii.Error or UnicodeDecodeError here, not
    its verification error, so a receiver built on it answers a forged request with a 500."""
    secret, now = SECRETS[1], int(time.time())
    headers = delivery(signature or sign(secret, "msg_1", now, body), now, "msg_1")
    if signature is None:
        verify(secret, headers, body, now=now)  # genuine: the exact bytes were signed, UTF-8 or not
    else:
        with pytest.raises(InvalidSignatureError):
            verify(secret, headers, body, now=now)
    with pytest.raises(Exception) as caught:
        Webhook(secret).verify(body, headers)
    assert not isinstance(caught.value, TheirError), (
        "standardwebhooks now handles this cleanly: reconsider using it (imagen_ui/replicate/webhook_signature.py)")
    assert issubclass(InvalidSignatureError, WebhookVerificationError)
