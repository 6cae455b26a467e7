"""imagen_ui.service.fair_share: turns go round-robin across lanes, and a cancelled wait gives its turn up."""

from __future__ import annotations

import asyncio

import pytest

from imagen_ui.replicate.pacing import TokenBucket
from imagen_ui.service.fair_share import FairQueue, lane_of


@pytest.mark.anyio
async def test_a_lane_with_one_waiter_goes_next_however_long_another_lane_is():
    queue = FairQueue(slots=1)
    order: list[str] = []
    release = asyncio.Event()

    async def one(name: str, lane: str) -> None:
        async with queue.turn(lane):
            order.append(name)
            await release.wait()

    flood = [asyncio.create_task(one(f"flood{i}", "ip:203.0.113.5")) for i in range(6)]
    await asyncio.sleep(0)
    calm = asyncio.create_task(one("calm", "ip:198.51.100.7"))
    await asyncio.sleep(0)
    for _ in range(7):
        release.set()
        await asyncio.sleep(0.01)
        release.clear()
    release.set()
    await asyncio.gather(*flood, calm)
    assert order[:3] == ["flood0", "flood1", "calm"]  # flood0 held the slot; flood1 was at the front
    assert sorted(order) == sorted([f"flood{i}" for i in range(6)] + ["calm"])


@pytest.mark.anyio
async def test_a_cancelled_wait_leaves_the_queue_and_a_finished_turn_frees_its_slot():
    queue = FairQueue(slots=1)
    holder_in, holder_out = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with queue.turn("a"):
            holder_in.set()
            await holder_out.wait()

    async def waiter() -> None:
        async with queue.turn("b"):
            pass

    held = asyncio.create_task(holder())
    await holder_in.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    assert queue.waiting == 1
    waiting.cancel()
    await asyncio.sleep(0)
    assert queue.waiting == 0 and queue.busy == 1
    holder_out.set()
    await held
    assert queue.busy == 0
    async with queue.turn("c"):  # nothing leaked: a new turn comes at once
        assert queue.busy == 1


@pytest.mark.anyio
async def test_the_pace_spaces_the_turns():
    queue = FairQueue(slots=10, pace=TokenBucket(rate=20.0, burst=1))
    loop = asyncio.get_running_loop()
    started: list[float] = []

    async def one() -> None:
        async with queue.turn("a"):
            started.append(loop.time())

    await asyncio.gather(*(one() for _ in range(4)))
    gaps = [b - a for a, b in zip(started, started[1:])]
    assert all(gap >= 0.04 for gap in gaps), gaps  # 20 a second: 50 ms apart


def test_a_lane_is_the_address_when_known():
    assert lane_of(["v:browser-1", "ip:81.2.69.160"]) == "ip:81.2.69.160"
    assert lane_of(["v:browser-1"]) == "v:browser-1"
    assert lane_of([]) == ""
