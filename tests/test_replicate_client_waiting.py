"""Sync mode, the shared poller and cancellation, against the emulator over loopback HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest
from client_helpers import client_for as shared_client_for
from conftest import wait_until_async

from imagen_ui.replicate.client import Prediction, ReplicateClient
from imagen_ui.replicate.polling import Poller

pytestmark = pytest.mark.anyio

MODEL = "google/imagen-4-fast"
CREATE_PATH = f"/v1/models/{MODEL}/predictions"
INPUT = {"prompt": "a lighthouse at dusk"}


def client_for(emu, **kwargs) -> ReplicateClient:
    kwargs.setdefault("poll_interval", 0.5)  # the waiting tests measure the client's own pacing
    return shared_client_for(emu, **kwargs)


# -- sync mode --------------------------------------------------------------------------------------


async def test_quick_model_finishes_on_the_first_round_trip(emulator) -> None:
    async with client_for(emulator) as client:
        prediction = await client.run(MODEL, INPUT)
    assert prediction.status == "succeeded"
    assert client.calls == {"create": 1}
    assert emulator.count("GET", "/v1/predictions") == 0
    assert emulator.requests[0].headers["prefer"] == "wait=1"


async def test_run_time_is_learned_and_widens_the_sync_window(make_emulator) -> None:
    emu = make_emulator(latency=0.3)
    async with client_for(emu) as client:
        assert client.expected_runtime(MODEL) is None and client.sync_window(MODEL) == 1
        await client.run(MODEL, INPUT)
        learned = client.expected_runtime(MODEL)
        assert learned is not None and 0.2 < learned < 0.5
        assert client.sync_window(MODEL) == 2
        await client.run(MODEL, INPUT)
    assert [r.headers["prefer"] for r in emu.requests if r.method == "POST"] == ["wait=1", "wait=2"]


async def test_slow_model_falls_back_to_polling(make_emulator) -> None:
    emu = make_emulator(latency=1.4)
    statuses: list[str] = []
    async with client_for(emu, poll_interval=0.2) as client:
        started = time.monotonic()
        prediction = await client.run(MODEL, INPUT, on_update=lambda p: statuses.append(p.status))
        took = time.monotonic() - started
    assert prediction.status == "succeeded"
    assert client.calls["create"] == 1 and 1 <= client.calls["get"] <= 3
    assert took < 1.4 + 0.5
    assert statuses[0] == "starting" and statuses[-1] == "succeeded"
    assert all(a != b for a, b in zip(statuses, statuses[1:])), "on_update repeated a status"


async def test_sync_wait_override(make_emulator) -> None:
    emu = make_emulator(latency=1.1)
    async with client_for(emu) as client:
        prediction = await client.run(MODEL, INPUT, sync_wait=3)
    assert prediction.status == "succeeded" and client.calls == {"create": 1}
    assert emu.requests[0].headers["prefer"] == "wait=3"


# -- the shared poller ------------------------------------------------------------------------------


async def test_one_list_call_covers_several_in_flight_predictions(make_emulator) -> None:
    emu = make_emulator(latency=0.6)
    async with client_for(emu, poll_interval=0.25) as client:
        created = [await client.create_prediction(MODEL, INPUT) for _ in range(5)]
        done = await asyncio.gather(*(client.wait(p) for p in created))
    assert [p.status for p in done] == ["succeeded"] * 5
    assert {p.id for p in done} == {p.id for p in created}
    assert client.calls["get"] == 0, "every prediction was on the list's first page"
    assert 1 <= client.calls["list"] <= 4
    assert emu.count("GET", "/v1/predictions/") == 0


async def test_a_single_due_prediction_gets_its_own_get(make_emulator) -> None:
    emu = make_emulator(latency=0.4)
    async with client_for(emu, poll_interval=0.2) as client:
        created = await client.create_prediction(MODEL, INPUT)
        done = await client.wait(created)
    assert done.status == "succeeded"
    assert client.calls["list"] == 0 and client.calls["get"] >= 1


async def test_learned_run_time_schedules_the_first_poll(make_emulator) -> None:
    emu = make_emulator(latency=1.2)
    async with client_for(emu, poll_interval=5.0) as client:
        client.record_runtime(MODEL, 1.6)  # "takes about 1.6 s": a 1 s window, then a poll at about 1.6 s
        started = time.monotonic()
        prediction = await client.run(MODEL, INPUT)
        took = time.monotonic() - started
    # With a 5 s interval, only the expected-end schedule can get the answer back this soon.
    assert prediction.status == "succeeded" and took < 2.2
    assert client.calls["get"] == 1


async def test_failed_polls_are_retried_and_never_stop_the_poller(make_emulator) -> None:
    emu = make_emulator(latency=0.5)
    async with client_for(emu, poll_interval=0.1) as client:
        created = [await client.create_prediction(MODEL, INPUT) for _ in range(2)]
        emu.inject_fault("GET", "/v1/predictions", 503, times=6)  # two whole polling rounds fail
        done = await asyncio.wait_for(asyncio.gather(*(client.wait(p) for p in created)), 5)
    assert [p.status for p in done] == ["succeeded", "succeeded"]
    assert emu.count("GET", "/v1/predictions") >= 7


async def test_cancelling_a_waiter_removes_it(make_emulator) -> None:
    emu = make_emulator(latency=5.0)
    async with client_for(emu, poll_interval=0.1) as client:
        created = await client.create_prediction(MODEL, INPUT)
        waiter = asyncio.ensure_future(client.wait(created))
        await wait_until_async(lambda: client.waiting == 1, 1)
        waiter.cancel()
        await wait_until_async(lambda: client.waiting == 0, 1)
        polls = emu.count("GET", "/v1/predictions")
        await asyncio.sleep(0.4)  # the behaviour under test: four poll intervals pass without a poll
        assert emu.count("GET", "/v1/predictions") == polls, "still polling a prediction nobody waits for"
        await client.cancel_prediction(created.id)


async def test_resolve_wakes_a_waiter_without_a_poll(make_emulator) -> None:
    emu = make_emulator(latency=0.2)
    async with client_for(emu, poll_interval=30.0) as client:
        created = await client.create_prediction(MODEL, INPUT)
        waiter = asyncio.ensure_future(client.wait(created))
        await wait_until_async(lambda: emu.prediction(created.id)["status"] == "succeeded", 2)
        assert not waiter.done()
        assert client.resolve(emu.prediction(created.id)) is True  # what a webhook would deliver
        done = await asyncio.wait_for(waiter, 1)
        assert client.resolve(emu.prediction(created.id)) is False  # nobody waits any more
    assert done.status == "succeeded" and done.output
    assert client.calls["get"] == 0 and client.calls["list"] == 0


async def test_a_webhook_that_beats_the_wait_ends_it_at_once(make_emulator) -> None:
    emu = make_emulator(latency=0.2)
    statuses: list[str] = []
    async with client_for(emu, poll_interval=30.0) as client:
        created = await client.create_prediction(MODEL, INPUT)
        await wait_until_async(lambda: emu.prediction(created.id)["status"] == "succeeded", 2)
        assert client.resolve(emu.prediction(created.id)) is False  # nobody waits yet: remembered
        done = await asyncio.wait_for(client.wait(created, on_update=lambda p: statuses.append(p.status)), 1)
        again = await asyncio.wait_for(client.wait(created), 1)  # a second waiter is served too
    assert done.status == again.status == "succeeded" and done.output == emu.prediction(created.id)["output"]
    assert statuses == ["succeeded"]
    assert client.calls["get"] == 0 and client.calls["list"] == 0


async def test_unwatched_news_is_remembered_for_a_bounded_number_and_time(make_emulator) -> None:
    emu = make_emulator(latency=0.05)
    gets: list[str] = []

    async def get(pid: str) -> Prediction:
        gets.append(pid)
        return Prediction.from_json(emu.prediction(pid))

    async def list_recent() -> list[Prediction]:
        return []

    poller = Poller(get=get, list_recent=list_recent, interval=0.05, remember=2, remember_for=0.5)
    async with client_for(emu) as client:
        first, second, third = [await client.create_prediction(MODEL, INPUT) for _ in range(3)]
    for created in (first, second, third):
        await wait_until_async(lambda: emu.prediction(created.id)["status"] == "succeeded", 2)
        assert poller.resolve(emu.prediction(created.id)) is False
    try:
        await asyncio.wait_for(poller.watch(third), 1)
        assert gets == [], "the newest news is remembered"
        await asyncio.wait_for(poller.watch(first), 1)
        assert gets == [first.id], "only the newest two are remembered: the oldest was polled"
        await asyncio.sleep(0.6)  # the behaviour under test: the remembered news outlives its 0.5 s
        await asyncio.wait_for(poller.watch(second), 1)
        assert gets == [first.id, second.id], "remembered news expires"
    finally:
        await poller.aclose()


async def test_webhook_grace_holds_the_first_poll_back(make_emulator) -> None:
    emu = make_emulator(latency=0.2)
    async with client_for(emu, poll_interval=0.05, webhook_grace=0.8) as client:
        started = time.monotonic()
        done = await client.wait(await client.create_prediction(MODEL, INPUT))
        unknown_runtime = time.monotonic() - started
        assert client.calls["get"] == 1
        expected = client.expected_runtime(MODEL)  # learned from that first run: about 0.2 s
        assert expected is not None and 0.15 < expected < 0.4
        started = time.monotonic()
        await client.wait(await client.create_prediction(MODEL, INPUT))
        known_runtime = time.monotonic() - started
    assert done.status == "succeeded" and client.calls["get"] == 2
    assert 0.8 <= unknown_runtime < 1.2, "grace from now when the run time is unknown"
    assert expected + 0.8 <= known_runtime < expected + 1.2, "grace after the expected end"


async def test_webhook_grace_spaces_the_later_polls_too(make_emulator) -> None:
    emu = make_emulator(latency=1.0)
    async with client_for(emu, poll_interval=0.05, webhook_grace=0.4) as client:
        started = time.monotonic()
        done = await client.wait(await client.create_prediction(MODEL, INPUT))
        took = time.monotonic() - started
    # Polls at about 0.4, 0.8 and 1.2 s: without the grace there would be ~20 tight polls.
    assert done.status == "succeeded" and client.calls["get"] == 3
    assert 1.15 < took < 1.6


async def test_older_states_arriving_late_are_ignored(make_emulator) -> None:
    emu = make_emulator(latency=5.0)
    statuses: list[str] = []
    async with client_for(emu, poll_interval=30.0) as client:
        created = await client.create_prediction(MODEL, INPUT)
        waiter = asyncio.ensure_future(client.wait(created, on_update=lambda p: statuses.append(p.status)))
        await wait_until_async(lambda: client.waiting == 1, 1)
        current = emu.prediction(created.id)
        client.resolve({**current, "status": "processing"})
        client.resolve({**current, "status": "starting"})  # a reordered "start" webhook
        client.resolve({**current, "status": "processing"})  # a duplicate
        assert not waiter.done()
        client.resolve({**current, "status": "canceled"})
        done = await asyncio.wait_for(waiter, 1)
        await client.cancel_prediction(created.id)
    assert statuses == ["processing", "canceled"] and done.status == "canceled"


async def test_wait_returns_at_once_for_a_finished_prediction(emulator) -> None:
    async with client_for(emulator) as client:
        prediction = await client.run(MODEL, INPUT)
        again = await client.wait(prediction)
    assert again is prediction and client.calls == {"create": 1}


# -- cancellation -----------------------------------------------------------------------------------


async def test_cancel_during_the_open_sync_create_still_cancels_remotely(make_emulator) -> None:
    emu = make_emulator(latency=3.0)
    async with client_for(emu) as client:
        run = asyncio.ensure_future(client.run(MODEL, INPUT))
        await wait_until_async(lambda: len(emu.predictions()) == 1)
        assert client.calls == {"create": 1}  # the create is still open (its sync wait lasts 1 s)
        run.cancel()
        cancelled_at = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert time.monotonic() - cancelled_at < 0.1, "the caller must not wait for the cleanup"
        pid = emu.predictions()[0]["id"]
        took = await wait_until_async(lambda: emu.prediction(pid)["status"] == "canceled", 1.5)
    assert took < 1.5
    assert emu.count("POST", f"/v1/predictions/{pid}/cancel") == 1


async def test_cancel_while_polling_cancels_remotely_at_once(make_emulator) -> None:
    emu = make_emulator(latency=3.0)
    async with client_for(emu, poll_interval=0.2) as client:
        seen: list[Prediction] = []
        run = asyncio.ensure_future(client.run(MODEL, INPUT, on_update=seen.append))
        await wait_until_async(lambda: bool(seen), 2)  # the create answered: now polling
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        took = await wait_until_async(lambda: emu.prediction(seen[0].id)["status"] == "canceled", 0.5)
        assert client.waiting == 0
    assert took < 0.5


async def test_aclose_lets_a_pending_remote_cancel_finish(make_emulator) -> None:
    emu = make_emulator(latency=3.0)
    client = client_for(emu)
    run = asyncio.ensure_future(client.run(MODEL, INPUT))
    await wait_until_async(lambda: len(emu.predictions()) == 1)  # the create reached Replicate
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await client.aclose()  # the create is still open; the cancel must go out before the client closes
    assert emu.predictions()[0]["status"] == "canceled"
