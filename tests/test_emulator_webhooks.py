"""Webhook deliveries: Standard Webhooks signatures the official client accepts, filters, retries."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import httpx
import pytest
import replicate
from conftest import wait_until
from replicate.webhook import InvalidSignatureError, WebhookSigningSecret

from imagen_ui.emulator import Emulator
from imagen_ui.emulator.webhooks import sign

CREATE = "/v1/models/google/imagen-4-fast/predictions"
pytestmark = pytest.mark.timeout(30)


class Receiver:
    """A loopback webhook receiver that answers `statuses` in turn (then 200) and keeps every call."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10) -> None:
        wait_until(lambda: len(self.calls) >= count, timeout, message=lambda: f"deliveries: {self.calls}")

    def events(self) -> list[str]:
        return [json.loads(body)["status"] for _, body in self.calls]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    assert sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_official_client_validates_real_deliveries(emulator: Emulator, receiver: Receiver) -> None:
    c = replicate.Client(api_token="x", base_url=emulator.base_url)
    prediction = c.predictions.create(model="google/imagen-4-fast", input={"prompt": "hook"}, webhook=receiver.url)
    receiver.wait_for(2)
    secret = c.webhooks.default.secret()
    assert secret.key.startswith("whsec_")
    for headers, body in receiver.calls:
        replicate.webhooks.validate(headers=headers, body=body.decode(), secret=secret, tolerance=300)
        assert headers["content-type"] == "application/json"
    assert receiver.events() == ["processing", "succeeded"]
    final = json.loads(receiver.calls[-1][1])
    assert final["id"] == prediction.id and final["output"] == emulator.prediction(prediction.id)["output"]
    headers, body = receiver.calls[-1]
    with pytest.raises(InvalidSignatureError):
        replicate.webhooks.validate(headers=headers, body=body.decode().replace("succeeded", "failed"),
                                    secret=secret)
    with pytest.raises(InvalidSignatureError):
        other = WebhookSigningSecret(key="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        replicate.webhooks.validate(headers=headers, body=body.decode(), secret=other)


def test_events_filter_completed_only(emulator: Emulator, receiver: Receiver) -> None:
    with httpx.Client(base_url=emulator.base_url, trust_env=False) as h:
        h.post(CREATE, json={"input": {"prompt": "FLAGGED"}, "webhook": receiver.url,
                             "webhook_events_filter": ["completed"]}, headers={"Prefer": "wait=5"})
    receiver.wait_for(1)
    wait_until(lambda: emulator.webhooks_pending == 0)  # every delivery it was going to make is made
    assert receiver.events() == ["failed"]


def test_completed_delivery_is_retried_with_the_same_id(emulator: Emulator) -> None:
    receiver = Receiver(statuses=[500, 503])
    try:
        with httpx.Client(base_url=emulator.base_url, trust_env=False) as h:
            h.post(CREATE, json={"input": {"prompt": "retry"}, "webhook": receiver.url,
                                 "webhook_events_filter": ["completed"]})
        receiver.wait_for(3)
        wait_until(lambda: emulator.webhooks_pending == 0)  # no retry is left to come
        assert len(receiver.calls) == 3  # two failures, then the success ends the retries
        assert len({headers["webhook-id"] for headers, _ in receiver.calls}) == 1
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_unreachable_receiver_does_not_hold_up_the_api(emulator: Emulator) -> None:
    with httpx.Client(base_url=emulator.base_url, trust_env=False) as h:
        started = time.monotonic()
        body = h.post(CREATE, json={"input": {"prompt": "x"}, "webhook": "http://127.0.0.1:9/unreachable"},
                      headers={"Prefer": "wait=5"}).json()
        assert body["status"] == "succeeded" and time.monotonic() - started < 1.0


def test_secret_is_stable_and_seeded(make_emulator) -> None:
    a, b, c = make_emulator(seed=5), make_emulator(seed=5), make_emulator()
    assert a.webhook_secret == b.webhook_secret != c.webhook_secret
    with httpx.Client(trust_env=False) as h:
        keys = {h.get(f"{a.base_url}/v1/webhooks/default/secret").json()["key"] for _ in range(2)}
    assert keys == {a.webhook_secret}
