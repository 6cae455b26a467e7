"""The host's wallet under attack: what a cancelled click costs, on the real app and the emulator."""

from __future__ import annotations

import time

import pytest
import raw_gradio
from playground import serve

pytestmark = pytest.mark.timeout(180)
VISITOR = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
COOKIE = f"imagen_ui_visitor={VISITOR}"


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_clicks_cancelled_while_their_creates_are_open_are_charged_and_cancelled(make_emulator, tmp_path):
    """15 four-image clicks, each cancelled 0.3 s after it was sent (its creates still open: the
    sync window is 1 s): 60 predictions were made on Replicate and the quota refunded all of them."""
    emulator = make_emulator(latency=3.0)
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True,
               quota_images_per_hour=100, quota_concurrent=0) as (app, url):
        fn_index, trigger = raw_gradio.event_index(raw_gradio.config(url), "generate", "click")
        visitor = raw_gradio.Session(url, cookie=COOKIE)
        for i in range(15):
            event = visitor.join(fn_index, [f"cancelled {i}", "1:1", "jpg", "block_only_high", 4, None],
                                 trigger_id=trigger)
            time.sleep(0.3)
            visitor.cancel(fn_index, event)
        made = emulator.predictions()
        assert wait_until(lambda: all(p["status"] != "processing" and p["status"] != "starting"
                                      for p in emulator.predictions()), timeout=30)
        made = emulator.predictions()
        remaining = app.service.quota.remaining([f"v:{VISITOR}"])
        visitor.close()
    cancels = {r.path.split("/")[-2] for r in emulator.requests if r.path.endswith("/cancel")}
    print(f"\n{len(made)} predictions made, {sum(p['status'] == 'canceled' for p in made)} cancelled on "
          f"Replicate; the visitor was charged {100 - remaining} images")
    assert made and all(p["status"] == "canceled" for p in made)
    assert cancels == {p["id"] for p in made}  # each cancelled by the app, by id
    assert 100 - remaining >= len(made)  # every create that reached Replicate is charged


def test_a_fresh_cookie_per_call_does_not_buy_a_fresh_quota(make_emulator, tmp_path, caplog):
    """Behind a proxy on this machine (no X-Forwarded-For trusted), every caller is 127.0.0.1: the quota
    was counted per cookie only, and a client sending a new cookie with each call got 30 images of 20."""
    import uuid

    import httpx

    emulator = make_emulator(latency=0.01)
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True,
               quota_images_per_hour=20, quota_concurrent=0) as (_, url):
        made = 0
        for i in range(30):
            cookie = f"imagen_ui_visitor={uuid.uuid4()}"
            posted = httpx.post(f"{url}gradio_api/call/generate", headers={"cookie": cookie}, timeout=30,
                                json={"data": [f"fresh cookie {i}", "1:1", "jpg", "block_only_high", 1]})
            event = posted.json()["event_id"]
            result = httpx.get(f"{url}gradio_api/call/generate/{event}", headers={"cookie": cookie}, timeout=30)
            made += "event: complete" in result.text
    told = [r.getMessage() for r in caplog.records if "--trusted-proxies" in r.getMessage()]
    print(f"\n30 calls, each with a new cookie: {made} images made (the limit is 20)")
    assert made == 20 == len(emulator.predictions())
    assert len(told) == 1 and "share one quota" in told[0]  # said once, at start-up


def test_a_flood_from_one_address_delays_another_visitor_by_at_most_one_model_run(make_emulator, tmp_path):
    """20 four-image clicks from one address (a new cookie each, no per-visitor limits set), then one image
    from someone else: it waited behind the whole flood (67 s behind 288 images), first come, first served."""
    import threading

    from gradio_client import Client

    latency = 1.5
    emulator = make_emulator(latency=latency)
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True, trusted_proxies=("127.0.0.1/32",),
               quota_images_per_hour=0, quota_concurrent=0, max_in_flight=16) as (_, url):
        fn_index, trigger = raw_gradio.event_index(raw_gradio.config(url), "generate", "click")
        calm = Client(url, verbose=False, analytics_enabled=False,
                      headers={"cookie": COOKIE, "x-forwarded-for": "198.51.100.7"})

        def one_image(prompt: str) -> float:
            started = time.monotonic()
            gallery, _ = calm.predict(prompt, "1:1", "jpg", "block_only_high", 1, api_name="/generate")
            assert len(gallery) == 1
            return time.monotonic() - started

        quiet = one_image("a quiet moment")
        flooders = [raw_gradio.Session(url, cookie=f"imagen_ui_visitor=ffffffff-0000-4000-8000-{i:012d}",
                                       **{"x-forwarded-for": "203.0.113.5"}) for i in range(20)]
        joins = [threading.Thread(target=f.join, args=(fn_index, [f"flood {i}", "1:1", "jpg", "block_only_high", 4,
                                                                   None]), kwargs={"trigger_id": trigger})
                 for i, f in enumerate(flooders)]
        for thread in joins:
            thread.start()
        for thread in joins:
            thread.join()
        assert wait_until(lambda: len(emulator.predictions()) >= 16, timeout=20)  # the flood holds every slot
        flooded = one_image("a calm request")
        flood_made = len(emulator.predictions())
        for f in flooders:
            f.close()
    print(f"\none image: {quiet:.1f} s on a quiet app, {flooded:.1f} s during a flood of 80 from one address "
          f"({flood_made} created by then); one model run is {latency} s")
    assert flooded <= quiet + latency + 2.0  # one run, and room for a noisy machine (FIFO: +6.8 s)
