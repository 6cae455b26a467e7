"""Webhook-only waiting, end to end: the emulator delivers real signed webhooks to a real loopback
receiver (the app's `WebhookReceiver`, served by uvicorn on this test's event loop) that feeds them to
`client.resolve`; with `webhook_grace` set, polling is only a late safety net."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from conftest import free_port, wait_until_async
from starlette.applications import Starlette

from imagen_ui.emulator import Emulator
from imagen_ui.replicate.client import ReplicateClient, RetryPolicy
from imagen_ui.replicate.webhook_receiver import WEBHOOK_PATH, WebhookReceiver

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

MODEL = "google/imagen-4-fast"
LATENCY = 1.5  # longer than run()'s 1 s sync window: the answer comes back unfinished, then it waits



class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals belong to pytest, not to a server inside a test


@contextlib.asynccontextmanager
async def receiving(client: ReplicateClient) -> AsyncIterator[tuple[str, WebhookReceiver]]:
    """The app's receiver on a loopback port, handing verified deliveries to `client.resolve`."""
    receiver = WebhookReceiver(secret_provider=client.webhook_secret, on_prediction=client.resolve)
    config = uvicorn.Config(Starlette(routes=[receiver.route]), lifespan="off", log_config=None, access_log=False)
    server = _QuietServer(config)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        try:
            await wait_until_async(lambda: server.started or task.done())
            assert not task.done(), "the receiver did not start"
            yield f"http://127.0.0.1:{sock.getsockname()[1]}{WEBHOOK_PATH}", receiver
        finally:
            server.should_exit = True
            await task


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}"  # nothing listens there


def client_for(emu: Emulator, grace: float) -> ReplicateClient:
    return ReplicateClient("r8_test", base_url=emu.base_url, webhook_grace=grace,
                           retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=1.0))


async def test_with_webhooks_working_runs_make_no_status_calls(make_emulator) -> None:
    emu = make_emulator(latency=LATENCY)
    async with client_for(emu, grace=5.0) as client, receiving(client) as (url, receiver):
        started = time.monotonic()
        done = await asyncio.gather(*(
            client.run(MODEL, {"prompt": f"woken by webhook {i}"}, webhook=url, webhook_events_filter=["completed"])
            for i in range(4)
        ))
        took = time.monotonic() - started
    assert [p.status for p in done] == ["succeeded"] * 4
    assert [p.output for p in done] == [emu.prediction(p.id)["output"] for p in done]
    assert client.calls["get"] == 0 and client.calls["list"] == 0
    assert client.calls == {"create": 4, "webhook_secret": 1}
    assert emu.count("GET", "/v1/predictions") == 0
    assert receiver.counts == {"accepted": 4}
    assert took < LATENCY + 1.0, "woken by the webhooks, long before the 5 s safety-net poll"


async def test_with_the_receiver_down_the_safety_net_poll_finishes_the_run(make_emulator) -> None:
    emu = make_emulator(latency=LATENCY)
    async with client_for(emu, grace=0.5) as client:
        started = time.monotonic()
        done = await client.run(MODEL, {"prompt": "nobody listens"}, webhook=closed_port_url())
        took = time.monotonic() - started
    assert done.status == "succeeded"
    assert client.calls["create"] == 1 and 1 <= client.calls["get"] <= 2 and client.calls["list"] == 0
    # Sync window 1 s, then polls every 0.5 s from then: done at the 1.5 s or the 2 s one.
    assert LATENCY <= took < 1.0 + 2 * 0.5 + 0.4
