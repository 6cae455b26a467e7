"""The webhook receiver, on a real Gradio server receiving real signed deliveries over HTTP.

The route goes onto the server `demo.launch()` starts through launch's own `app_kwargs`
(`{"routes": [receiver.route]}`); `receiver.mount(app)` also works on the running app launch()
returns. End to end, the emulator delivers a prediction's webhook to that route and a waiting
`ReplicateClient.wait()` (with polling effectively off) is woken by it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import gradio as gr
import httpx
import pytest
from conftest import free_port, wait_until_async
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount
from starlette.testclient import TestClient

from imagen_ui.emulator import Emulator
from imagen_ui.replicate.client import ReplicateClient
from imagen_ui.replicate.webhook_receiver import WEBHOOK_PATH, WebhookReceiver
from imagen_ui.replicate.webhook_signature import sign

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"  # valid base64, another key
pytestmark = pytest.mark.timeout(60)


# --- helpers -----------------------------------------------------------------------------------------


class Secrets:
    """A secret provider whose secret can be rotated; counts how often it was asked."""

    def __init__(self, value: str = SECRET) -> None:
        self.value = value
        self.fetches = 0
        self.failing = False

    async def __call__(self) -> str:
        self.fetches += 1
        if self.failing:
            raise RuntimeError("secret service down: token r8_should_not_leak")
        return self.value


class Calls:
    """on_prediction that records what it was given (from the server's thread)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, prediction: dict[str, Any]) -> None:
        with self._lock:
            self.items.append(prediction)

    def of(self, prediction_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [p for p in self.items if p["id"] == prediction_id]


def new_id(prefix: str = "p") -> str:
    return f"{prefix}{uuid.uuid4().hex[:20]}"


def prediction(pid: str, status: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": pid,
        "model": "google/imagen-4-fast",
        "version": "hidden",
        "status": status,
        "input": {"prompt": "a lighthouse"},
        "output": None,
        "created_at": "2026-05-01T10:00:00.000000Z",
        "started_at": None if status == "starting" else "2026-05-01T10:00:01.000000Z",
        "completed_at": None,
        "urls": {},
    }
    if status in ("succeeded", "failed", "canceled", "aborted"):
        data["completed_at"] = "2026-05-01T10:00:05.000000Z"
    if status == "succeeded":
        data["output"] = "https://replicate.delivery/xezq/abc/output.jpg"
    data.update(fields)
    return data


def signed(
    body: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
    delivery_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    delivery_id = delivery_id or "msg_" + uuid.uuid4().hex
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, delivery_id, timestamp, raw),
    }
    return raw, headers


def launch(**launch_options: Any) -> tuple[gr.Blocks, Any, str]:
    """A small real Gradio app, launched on a free loopback port: (demo, server app, base url)."""
    with gr.Blocks() as demo:
        gr.Markdown("webhook receiver test")
    app, local_url, _ = demo.launch(
        prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", server_port=free_port(), **launch_options
    )
    return demo, app, local_url.rstrip("/")


class Served:
    def __init__(self, base_url: str, receiver: WebhookReceiver, calls: Calls, secrets: Secrets) -> None:
        self.url = base_url + WEBHOOK_PATH
        self.base_url = base_url
        self.receiver = receiver
        self.calls = calls
        self.secrets = secrets

    def post(self, raw: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url, content=raw, headers=headers, timeout=10, trust_env=False)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One real Gradio server with the receiver mounted the recommended way, for the whole module."""
    calls, secrets = Calls(), Secrets()
    receiver = WebhookReceiver(secret_provider=secrets, on_prediction=calls)
    demo, _, base_url = launch(app_kwargs={"routes": [receiver.route]})
    try:
        yield Served(base_url, receiver, calls, secrets)
    finally:
        demo.close()


# --- (a)-(e) on the real Gradio server ------------------------------------------------------------------


def test_the_gradio_app_still_serves_its_page(served: Served) -> None:
    assert httpx.get(served.base_url + "/", trust_env=False).status_code == 200
    assert httpx.get(served.url, trust_env=False).status_code == 405  # POST only


def test_a_valid_delivery_is_handed_over_once(served: Served) -> None:
    pid = new_id()
    body = prediction(pid, "succeeded")
    response = served.post(*signed(body))
    assert response.status_code == 200
    assert served.calls.of(pid) == [body]


def test_a_bad_signature_is_refused(served: Served) -> None:
    pid = new_id()
    raw, headers = signed(prediction(pid, "succeeded"), secret=OTHER_SECRET)
    response = served.post(raw, headers)
    assert response.status_code == 401
    assert response.text == "invalid webhook signature"
    raw, headers = signed(prediction(pid, "succeeded"))
    tampered = raw.replace(b"output.jpg", b"evil.jpg")
    assert served.post(tampered, headers).status_code == 401
    assert served.calls.of(pid) == []


def test_forged_deliveries_do_not_make_the_app_refetch_the_secret_each_time(served: Served) -> None:
    before = served.secrets.fetches
    for _ in range(5):
        assert served.post(*signed(prediction(new_id(), "succeeded"), secret=OTHER_SECRET)).status_code == 401
    assert served.secrets.fetches - before <= 1


@pytest.mark.parametrize("offset", [-400, 400, -10_000])
def test_a_stale_or_future_timestamp_is_refused(served: Served, offset: int) -> None:
    pid = new_id()
    response = served.post(*signed(prediction(pid, "succeeded"), timestamp=int(time.time()) + offset))
    assert response.status_code == 400
    assert response.text == "webhook timestamp out of range"
    assert served.calls.of(pid) == []


def test_a_timestamp_within_tolerance_is_accepted(served: Served) -> None:
    pid = new_id()
    assert served.post(*signed(prediction(pid, "succeeded"), timestamp=int(time.time()) - 200)).status_code == 200
    assert len(served.calls.of(pid)) == 1


def test_missing_headers_and_bodies_that_are_not_predictions_are_refused(served: Served) -> None:
    raw, headers = signed(prediction(new_id(), "succeeded"))
    del headers["webhook-signature"]
    assert served.post(raw, headers).status_code == 400
    for junk in (b"not json", b"[1, 2]", b'{"status": "succeeded"}'):
        assert served.post(*signed(junk)).status_code == 400


@pytest.mark.parametrize("status", ["processing", "succeeded"])
def test_a_duplicate_delivery_is_handed_over_once(served: Served, status: str) -> None:
    pid = new_id()
    raw, headers = signed(prediction(pid, status))
    assert served.post(raw, headers).status_code == 200
    assert served.post(raw, headers).status_code == 200  # Replicate's retry: same webhook-id
    # A retry is signed again (new timestamp) but keeps its id.
    again_raw, again_headers = signed(raw, delivery_id=headers["webhook-id"], timestamp=int(time.time()) + 1)
    assert served.post(again_raw, again_headers).status_code == 200
    assert len(served.calls.of(pid)) == 1


def test_an_older_state_after_a_later_one_is_ignored(served: Served) -> None:
    pid = new_id()
    assert served.post(*signed(prediction(pid, "succeeded"))).status_code == 200
    late_processing = served.post(*signed(prediction(pid, "processing")))
    late_starting = served.post(*signed(prediction(pid, "starting")))
    # Nothing follows a terminal state, even one with a later timestamp under another delivery id.
    another_end = served.post(*signed(prediction(pid, "canceled", completed_at="2026-05-01T10:00:09Z")))
    assert (late_processing.status_code, late_starting.status_code, another_end.status_code) == (200, 200, 200)
    assert [p["status"] for p in served.calls.of(pid)] == ["succeeded"]


def test_states_in_order_all_pass(served: Served) -> None:
    pid = new_id()
    for status in ("starting", "processing", "processing", "succeeded"):
        assert served.post(*signed(prediction(pid, status, logs=status + str(time.time())))).status_code == 200
    assert [p["status"] for p in served.calls.of(pid)] == ["starting", "processing", "processing", "succeeded"]
    assert [p["status"] for p in served.calls.of(pid)].count("succeeded") == 1


def test_processing_after_processing_with_an_earlier_start_is_ignored(served: Served) -> None:
    pid = new_id()
    assert served.post(*signed(prediction(pid, "processing", started_at="2026-05-01T10:00:09Z"))).status_code == 200
    assert served.post(*signed(prediction(pid, "processing", started_at="2026-05-01T10:00:01Z"))).status_code == 200
    assert len(served.calls.of(pid)) == 1


# --- (f) end to end: emulator -> Gradio route -> client.resolve -> waiter ----------------------------------



@pytest.mark.anyio
async def test_the_emulators_webhook_wakes_a_waiting_client(make_emulator: Any) -> None:
    emu: Emulator = make_emulator(latency=0.3)
    loop = asyncio.get_running_loop()
    # Polling effectively off: no runtime learned yet, so the first poll would be an hour away.
    client = ReplicateClient("r8_test", base_url=emu.base_url, poll_interval=3600)
    resolved: list[bool] = []

    async def secret_from_the_api() -> str:  # runs on the Gradio server's loop: its own client
        async with ReplicateClient("r8_test", base_url=emu.base_url) as own:
            return await own.webhook_secret()

    def wake(prediction_json: dict[str, Any]) -> None:
        # The client's waiters live on this test's loop; the route runs on the server's.
        loop.call_soon_threadsafe(lambda: resolved.append(client.resolve(prediction_json)))

    receiver = WebhookReceiver(secret_provider=secret_from_the_api, on_prediction=wake)
    demo, _, base_url = await asyncio.to_thread(launch, app_kwargs={"routes": [receiver.route]})
    try:
        async with client:
            created = await client.create_prediction(
                "google/imagen-4-fast",
                {"prompt": "woken by a webhook"},
                webhook=base_url + WEBHOOK_PATH,
                webhook_events_filter=["completed"],
            )
            assert not created.is_done
            started = time.monotonic()
            done = await client.wait(created, timeout=15)
            took = time.monotonic() - started
        assert done.id == created.id and done.status == "succeeded"
        assert done.output == emu.prediction(created.id)["output"]
        assert resolved == [True]  # the webhook, not a poll, ended the wait
        assert client.calls["get"] == 0 and client.calls["list"] == 0
        assert took < 5
        # The route answers on its own thread, maybe just after the waiter woke.
        await wait_until_async(lambda: receiver.counts["accepted"])
        assert receiver.counts == {"accepted": 1}
    finally:
        await asyncio.to_thread(demo.close)


# --- mounting on a running app --------------------------------------------------------------------------


def test_mount_on_the_app_launch_returns() -> None:
    calls = Calls()
    receiver = WebhookReceiver(secret_provider=Secrets(), on_prediction=calls, path="/hooks/late")
    demo, app, base_url = launch()
    try:
        receiver.mount(app)
        receiver.mount(app)  # idempotent
        pid = new_id()
        raw, headers = signed(prediction(pid, "succeeded"))
        response = httpx.post(base_url + "/hooks/late", content=raw, headers=headers, trust_env=False)
        assert response.status_code == 200 and len(calls.of(pid)) == 1
        assert sum(1 for route in app.router.routes if route is receiver.route) == 1
    finally:
        demo.close()


def test_mount_goes_ahead_of_a_catch_all() -> None:
    calls = Calls()
    receiver = WebhookReceiver(secret_provider=Secrets(), on_prediction=calls)
    app = Starlette(routes=[Mount("/", app=PlainTextResponse("the gradio app"))])
    receiver.mount(app)
    with TestClient(app) as http:
        assert http.post(WEBHOOK_PATH, content=b"{}").status_code == 400  # reached the receiver
        assert http.get("/anything").text == "the gradio app"


# --- the secret: cached, refetched once on a mismatch, failures answered 503 --------------------------------


def in_process(receiver: WebhookReceiver) -> TestClient:
    return TestClient(Starlette(routes=[receiver.route]))


def test_the_secret_is_fetched_once_and_cached() -> None:
    secrets, calls = Secrets(), Calls()
    with in_process(WebhookReceiver(secret_provider=secrets, on_prediction=calls)) as http:
        for _ in range(3):
            assert http.post(WEBHOOK_PATH, **as_kwargs(signed(prediction(new_id(), "succeeded")))).status_code == 200
    assert secrets.fetches == 1 and len(calls.items) == 3


def test_a_rotated_secret_is_fetched_again_once() -> None:
    secrets, calls = Secrets(), Calls()
    receiver = WebhookReceiver(secret_provider=secrets, on_prediction=calls, secret_refresh_interval=0)
    with in_process(receiver) as http:
        assert http.post(WEBHOOK_PATH, **as_kwargs(signed(prediction(new_id(), "succeeded")))).status_code == 200
        secrets.value = OTHER_SECRET  # rotated at Replicate
        body = prediction(new_id(), "succeeded")
        assert http.post(WEBHOOK_PATH, **as_kwargs(signed(body, secret=OTHER_SECRET))).status_code == 200
        assert secrets.fetches == 2 and calls.items[-1] == body
        # Signed with the old secret now: one refetch (same secret), still refused.
        assert http.post(WEBHOOK_PATH, **as_kwargs(signed(prediction(new_id(), "succeeded")))).status_code == 401
        assert secrets.fetches == 3


def test_a_secret_that_cannot_be_fetched_is_a_503_that_leaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    secrets, calls = Secrets(), Calls()
    secrets.failing = True
    with in_process(WebhookReceiver(secret_provider=secrets, on_prediction=calls)) as http:
        response = http.post(WEBHOOK_PATH, **as_kwargs(signed(prediction(new_id(), "succeeded"))))
        assert response.status_code == 503 and "r8_" not in response.text
        secrets.failing = False  # Replicate retries; by then the secret is back
        assert http.post(WEBHOOK_PATH, **as_kwargs(signed(prediction(new_id(), "succeeded")))).status_code == 200
    assert "r8_" not in caplog.text and len(calls.items) == 1


def test_a_malformed_secret_is_a_503() -> None:
    receiver = WebhookReceiver(secret_provider=Secrets("whsec_not base64!"), on_prediction=Calls())
    with in_process(receiver) as http:
        assert http.post(WEBHOOK_PATH, **as_kwargs(signed(b"{}"))).status_code == 503


# --- the handler ------------------------------------------------------------------------------------------


def test_a_failing_handler_is_a_500_and_the_retry_is_processed() -> None:
    received: list[str] = []

    def flaky(prediction_json: dict[str, Any]) -> None:
        received.append(prediction_json["id"])
        if len(received) == 1:
            raise RuntimeError("boom")

    with in_process(WebhookReceiver(secret_provider=Secrets(), on_prediction=flaky)) as http:
        delivery = as_kwargs(signed(prediction("p1", "succeeded")))
        assert http.post(WEBHOOK_PATH, **delivery).status_code == 500
        assert http.post(WEBHOOK_PATH, **delivery).status_code == 200
        assert http.post(WEBHOOK_PATH, **delivery).status_code == 200  # now a duplicate
    assert received == ["p1", "p1"]


def test_an_async_handler_runs_after_the_answer() -> None:
    finished = threading.Event()
    release = asyncio.Event()

    async def slow(prediction_json: dict[str, Any]) -> None:
        await release.wait()
        finished.set()

    receiver = WebhookReceiver(secret_provider=Secrets(), on_prediction=slow)
    app = Starlette(routes=[receiver.route])
    with TestClient(app) as http:
        assert http.post(WEBHOOK_PATH, **as_kwargs(signed(prediction("p1", "succeeded")))).status_code == 200
        assert not finished.is_set()  # answered while the work still waits
        http.portal.call(release.set)  # type: ignore[union-attr]
        assert finished.wait(5)


def test_an_oversized_body_is_refused_unread() -> None:
    calls = Calls()
    with in_process(WebhookReceiver(secret_provider=Secrets(), on_prediction=calls)) as http:
        raw, headers = signed(b"{" + b" " * (6 * 2**20) + b"}")
        assert http.post(WEBHOOK_PATH, content=raw, headers=headers).status_code == 413
    assert calls.items == []


def test_memory_of_deliveries_is_bounded() -> None:
    calls = Calls()
    receiver = WebhookReceiver(secret_provider=Secrets(), on_prediction=calls, max_seen=2)
    with in_process(receiver) as http:
        first = as_kwargs(signed(prediction("p1", "succeeded")))
        assert http.post(WEBHOOK_PATH, **first).status_code == 200
        for pid in ("p2", "p3"):
            assert http.post(WEBHOOK_PATH, **as_kwargs(signed(prediction(pid, "succeeded")))).status_code == 200
        assert http.post(WEBHOOK_PATH, **first).status_code == 200  # p1 forgotten: taken again
    assert [p["id"] for p in calls.items] == ["p1", "p2", "p3", "p1"]


def as_kwargs(delivery: tuple[bytes, dict[str, str]]) -> dict[str, Any]:
    raw, headers = delivery
    return {"content": raw, "headers": headers}
