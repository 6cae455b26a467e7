"""imagen_ui.public.quota: per-visitor limits on the host's token, with a fake clock and real requests."""

from __future__ import annotations

import asyncio

import gradio as gr
import pytest
from starlette.requests import Request

from imagen_ui.public.proxies import ProxyTrust, same_peer_warning
from imagen_ui.public.quota import (
    ANONYMOUS_KEY,
    UNLIMITED,
    Quota,
    QuotaExceeded,
    client_address,
    quota_from_settings,
    trust_forwarded_for,
    visitor_keys,
)
from imagen_ui.public.visitors import COOKIE
from imagen_ui.settings import Settings

ALICE = ["v:alice-browser-0001", "ip:81.2.69.160"]
BOB = ["v:bob-browser-00002", "ip:81.2.69.161"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock, images_per_hour=20, concurrent=0, **kwargs) -> Quota:
    return Quota(images_per_hour=images_per_hour, concurrent=concurrent, clock=clock, **kwargs)


# --- hourly limit ---------------------------------------------------------------------------------


def test_hourly_limit_counts_images_and_refuses_beyond_it(clock):
    quota = make(clock)
    for _ in range(5):
        quota.reserve(ALICE, 4).release()
        clock.advance(60)
    assert quota.remaining(ALICE) == 0
    with pytest.raises(QuotaExceeded) as caught:
        quota.reserve(ALICE, 1)
    error = caught.value
    assert error.reason == "hourly"
    # The first 4 images were counted 5 minutes ago: room again 55 minutes from now.
    assert error.retry_at_seconds == pytest.approx(3600 - 300)
    assert str(error) == (
        "You have made 20 images this hour, the limit on this public demo. You can make more in 55 minutes, "
        "or paste your own Replicate token under \"Use your own Replicate token\" to lift the limit."
    )


def test_a_reservation_counts_immediately_not_when_released(clock):
    quota = make(clock, images_per_hour=4)
    held = quota.reserve(ALICE, 4)
    assert quota.remaining(ALICE) == 0
    with pytest.raises(QuotaExceeded):
        quota.reserve(ALICE, 1)
    held.release()


def test_partial_room_says_how_many_are_left(clock):
    quota = make(clock)
    quota.reserve(ALICE, 18).release()
    clock.advance(30)
    with pytest.raises(QuotaExceeded) as caught:
        quota.reserve(ALICE, 4)
    message = str(caught.value)
    assert "You have 2 images left this hour" in message
    assert "Ask for 2 or fewer, or wait 60 minutes" in message  # 3570 s, rounded up
    assert quota.reserve(ALICE, 2)  # what is left still fits


def test_window_slides(clock):
    quota = make(clock, images_per_hour=4)
    quota.reserve(ALICE, 2).release()
    clock.advance(1800)
    quota.reserve(ALICE, 2).release()
    with pytest.raises(QuotaExceeded) as caught:
        quota.reserve(ALICE, 1)
    assert caught.value.retry_at_seconds == pytest.approx(1800)
    assert "30 minutes" in str(caught.value)
    clock.advance(1799)
    with pytest.raises(QuotaExceeded) as caught:
        quota.reserve(ALICE, 1)
    assert "1 minute," in str(caught.value)
    clock.advance(1)  # the first two images are an hour old: they no longer count
    assert quota.remaining(ALICE) == 2
    quota.reserve(ALICE, 2).release()
    assert quota.remaining(ALICE) == 0


def test_wait_is_for_enough_room_not_just_the_oldest_image(clock):
    quota = make(clock, images_per_hour=4)
    quota.reserve(ALICE, 1).release()
    clock.advance(600)
    quota.reserve(ALICE, 3).release()
    clock.advance(600)
    # Asking for 2 needs the first AND the second charge to expire: 40 minutes, not 40 - 10.
    with pytest.raises(QuotaExceeded) as caught:
        quota.reserve(ALICE, 2)
    assert caught.value.retry_at_seconds == pytest.approx(3600 - 600)


def test_asking_for_more_than_an_hour_allows(clock):
    quota = make(clock, images_per_hour=3)
    with pytest.raises(QuotaExceeded, match="at most 3 images an hour per visitor; ask for fewer") as caught:
        quota.reserve(ALICE, 4)
    assert caught.value.retry_at_seconds is None
    assert quota.remaining(ALICE) == 3  # nothing was counted


def test_own_token_hint_can_be_left_out(clock):
    quota = make(clock, images_per_hour=1, own_token_hint=None)
    quota.reserve(ALICE, 1).release()
    with pytest.raises(QuotaExceeded) as caught:
        quota.reserve(ALICE, 1)
    assert str(caught.value).endswith("You can make more in 60 minutes.")
    assert "token" not in str(caught.value)


# --- refunds --------------------------------------------------------------------------------------


def test_unmade_images_are_refunded(clock):
    quota = make(clock, images_per_hour=10)
    quota.reserve(ALICE, 4).release(used_images=1)  # three failed before a prediction existed
    assert quota.remaining(ALICE) == 9
    quota.reserve(ALICE, 4).release(used_images=0)
    assert quota.remaining(ALICE) == 9
    quota.reserve(ALICE, 4).release()  # None: all were made
    assert quota.remaining(ALICE) == 5


def test_refund_reaches_every_key_and_is_clamped(clock):
    quota = make(clock, images_per_hour=10)
    quota.reserve(ALICE, 3).release(used_images=7)  # more than reserved: counts as all
    assert quota.remaining(ALICE[:1]) == quota.remaining(ALICE[1:]) == 7
    quota.reserve(ALICE, 3).release(used_images=-2)  # less than none: counts as none
    assert quota.remaining(ALICE[:1]) == quota.remaining(ALICE[1:]) == 7


def test_only_the_first_release_counts(clock):
    quota = make(clock, images_per_hour=10, concurrent=1)
    reservation = quota.reserve(ALICE, 4)
    reservation.release(used_images=2)
    reservation.release(used_images=0)
    reservation.release()
    assert reservation.released
    assert quota.remaining(ALICE) == 8
    quota.reserve(ALICE, 1)  # the single slot was freed once, not driven below zero
    with pytest.raises(QuotaExceeded):
        quota.reserve(ALICE, 1)


def test_context_manager_releases_the_slot_and_keeps_an_earlier_refund(clock):
    quota = make(clock, images_per_hour=10, concurrent=1)
    with quota.reserve(ALICE, 4) as reservation:
        with pytest.raises(QuotaExceeded):
            quota.reserve(ALICE, 1)
        reservation.release(used_images=1)
    assert quota.remaining(ALICE) == 9
    with pytest.raises(RuntimeError):
        with quota.reserve(ALICE, 2):
            raise RuntimeError("generation blew up")
    assert quota.remaining(ALICE) == 7  # unknown outcome: counted
    quota.reserve(ALICE, 1)  # and the slot was freed anyway


# --- concurrency ----------------------------------------------------------------------------------


def test_concurrency_limit_and_release(clock):
    quota = make(clock, images_per_hour=0, concurrent=2)
    first, second = quota.reserve(ALICE, 4), quota.reserve(ALICE, 4)
    with pytest.raises(QuotaExceeded) as caught:
        quota.reserve(ALICE, 1)
    assert caught.value.reason == "concurrent"
    assert caught.value.retry_at_seconds is None
    assert str(caught.value) == "You already have 2 generations running; wait for one to finish or cancel it."
    first.release()
    third = quota.reserve(ALICE, 1)
    for reservation in (second, third):
        reservation.release()
    assert quota.tracked_keys == 0


def test_the_hourly_refusal_comes_first(clock):
    quota = make(clock, images_per_hour=2, concurrent=1)
    quota.reserve(ALICE, 2)  # still running, and the hour is used up
    with pytest.raises(QuotaExceeded) as caught:
        quota.reserve(ALICE, 1)
    assert caught.value.reason == "hourly"  # waiting for the running one would not help


def test_a_refused_request_changes_nothing(clock):
    quota = make(clock, images_per_hour=4, concurrent=1)
    held = quota.reserve(ALICE[:1], 1)
    with pytest.raises(QuotaExceeded):
        quota.reserve(ALICE, 1)  # the browser key is busy; the address key must not be charged
    assert quota.remaining(ALICE[1:]) == 4
    held.release()
    quota.reserve(ALICE[1:], 1).release()


def test_usable_from_concurrent_tasks(clock):
    quota = make(clock, images_per_hour=100, concurrent=3)

    async def ten_at_once() -> list[bool]:
        tried: list[bool] = []
        everyone_tried = asyncio.Event()

        def tries(outcome: bool) -> None:
            tried.append(outcome)
            if len(tried) == 10:
                everyone_tried.set()

        async def one_generation() -> bool:
            try:
                with quota.reserve(ALICE, 1):
                    tries(True)
                    await everyone_tried.wait()  # running until all ten have tried
                    return True
            except QuotaExceeded:
                tries(False)
                return False

        return await asyncio.gather(*(one_generation() for _ in range(10)))

    assert sum(asyncio.run(ten_at_once())) == 3  # all ten start before any finishes
    assert quota.remaining(ALICE) == 97
    assert sum(asyncio.run(ten_at_once())) == 3  # and every slot came back


# --- several visitors and keys ----------------------------------------------------------------------


def test_two_visitors_are_independent(clock):
    quota = make(clock, images_per_hour=4, concurrent=1)
    held = quota.reserve(ALICE, 4)
    with quota.reserve(BOB, 4):
        assert quota.remaining(BOB) == 0
    assert quota.remaining(ALICE) == 0
    held.release()


def test_clearing_cookies_does_not_reset_the_address(clock):
    quota = make(clock, images_per_hour=4)
    address = "ip:81.2.69.160"
    quota.reserve(["v:first-browser-id0", address], 4).release()
    with pytest.raises(QuotaExceeded) as caught:
        quota.reserve(["v:second-browser-id", address], 1)
    assert str(caught.value).startswith("Visitors from your network have made 4 images this hour")


def test_a_new_address_does_not_reset_the_browser(clock):
    quota = make(clock, images_per_hour=4)
    quota.reserve(["v:same-browser-id00", "ip:81.2.69.160"], 4).release()
    with pytest.raises(QuotaExceeded) as caught:
        quota.reserve(["v:same-browser-id00", "ip:2a00:1450:4001:81b::/64"], 1)
    assert str(caught.value).startswith("You have made 4 images")


def test_network_wide_concurrency_message(clock):
    quota = make(clock, images_per_hour=0, concurrent=1)
    quota.reserve(["v:first-browser-id0", "ip:81.2.69.160"], 1)
    with pytest.raises(QuotaExceeded, match="1 generation from your network is already running"):
        quota.reserve(["v:second-browser-id", "ip:81.2.69.160"], 1)


def test_repeated_keys_count_once(clock):
    quota = make(clock, images_per_hour=4)
    quota.reserve(["v:a-browser-id-0000", "v:a-browser-id-0000"], 2).release()
    assert quota.remaining(["v:a-browser-id-0000"]) == 2


def test_keys_are_required(clock):
    with pytest.raises(ValueError):
        make(clock).reserve([], 1)
    with pytest.raises(ValueError):
        make(clock).reserve(ALICE, -1)


# --- disabled and bounded ---------------------------------------------------------------------------


def test_disabled_when_both_limits_are_zero(clock):
    quota = make(clock, images_per_hour=0, concurrent=0)
    assert not quota.enabled
    held = [quota.reserve(ALICE, 4) for _ in range(1000)]
    assert quota.remaining(ALICE) == UNLIMITED
    assert quota.tracked_keys == 0
    for reservation in held:
        reservation.release()


def test_negative_limits_are_refused():
    with pytest.raises(ValueError):
        Quota(images_per_hour=-1, concurrent=0)


def test_memory_is_bounded_by_the_key_cap(clock):
    quota = make(clock, images_per_hour=5, max_keys=1000)
    for n in range(5000):
        quota.reserve([f"v:visitor-{n:012d}", f"ip:10.{n // 65536}.{n // 256 % 256}.{n % 256}"], 1).release()
    assert quota.tracked_keys <= 1000
    # The most recent visitors are the ones remembered.
    assert quota.remaining(["v:visitor-000000004999"]) == 4
    assert quota.remaining(["v:visitor-000000000000"]) == 5


def test_keys_idle_for_an_hour_are_forgotten(clock):
    quota = make(clock, images_per_hour=5, concurrent=2)
    for n in range(3000):
        quota.reserve([f"v:visitor-{n:012d}"], 1).release()
    assert quota.tracked_keys == 3000
    clock.advance(3600)
    quota.reserve(ALICE, 1).release()
    assert quota.tracked_keys == 2  # only ALICE's two keys


def test_quota_from_settings_only_guards_the_hosts_money():
    public_paid = Settings(public=True, token="r8_x", quota_images_per_hour=7, quota_concurrent=3)
    quota = quota_from_settings(public_paid)
    assert (quota.images_per_hour, quota.concurrent) == (7, 3)
    for settings in (
        Settings(token="r8_x", quota_images_per_hour=7),  # a local run
        Settings(public=True, quota_images_per_hour=7),  # public but offline: the emulator costs nothing
    ):
        assert not quota_from_settings(settings).enabled


# --- who is asking ---------------------------------------------------------------------------------


def http_request(client: tuple[str, int] | None = ("81.2.69.160", 50000), headers=(), session="sess-1") -> gr.Request:
    """A gr.Request over a real starlette Request, as Gradio builds it for an event."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/gradio_api/queue/join",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
        "client": client,
    }
    return gr.Request(request=Request(scope), session_hash=session)


BROWSER = "0f6e1c2a-7d4b-4e8a-9c3f-5b2d1a0e9f87"


def test_keys_are_browser_id_and_address():
    request = http_request(headers=[("Cookie", f"theme=dark; {COOKIE}={BROWSER}")])
    assert visitor_keys(request) == [f"v:{BROWSER}", "ip:81.2.69.160"]


def test_without_a_cookie_the_session_stands_in():
    keys = visitor_keys(http_request())
    assert keys[0].startswith("v:s-") and keys[1] == "ip:81.2.69.160"


def test_forwarded_header_is_ignored_unless_trusted():
    request = http_request(client=("10.0.0.5", 40000), headers=[("X-Forwarded-For", "81.2.69.160")])
    assert client_address(request) == "10.0.0.5"
    assert client_address(request, trust_forwarded=True) == "81.2.69.160"


def test_forwarded_header_is_ignored_from_a_public_peer_even_when_trusted():
    # Straight from the internet, not through our proxy: the header is whatever the client wrote.
    request = http_request(client=("81.2.69.160", 40000), headers=[("X-Forwarded-For", "1.1.1.1")])
    assert client_address(request, trust_forwarded=True) == "81.2.69.160"


def test_forged_entries_left_of_the_proxys_are_skipped():
    # The client wrote "1.1.1.1"; the public proxy appended what it saw; an internal hop followed.
    request = http_request(
        client=("10.0.0.5", 40000),
        headers=[("X-Forwarded-For", "1.1.1.1, 81.2.69.160"), ("X-Forwarded-For", "10.16.3.80")],
    )
    assert client_address(request, trust_forwarded=True) == "81.2.69.160"
    assert visitor_keys(request, trust_forwarded=True)[1] == "ip:81.2.69.160"


def test_private_network_behind_its_own_proxy_uses_the_nearest_hop():
    request = http_request(client=("127.0.0.1", 40000), headers=[("X-Forwarded-For", "10.9.9.9, 192.168.1.20")])
    assert client_address(request, trust_forwarded=True) == "192.168.1.20"


def test_trusted_but_no_usable_header_gives_no_address_key():
    for headers in ([], [("X-Forwarded-For", "unknown, garbage")]):
        request = http_request(client=("10.0.0.5", 40000), headers=headers)
        assert client_address(request, trust_forwarded=True) is None  # never the proxy's own address
        assert len(visitor_keys(request, trust_forwarded=True)) == 1


def test_an_untrusted_loopback_peer_is_one_shared_address():
    """Behind a proxy on this machine that nobody named, every visitor is the proxy's address: one
    quota for all of them, not one per cookie (a client can mint cookies at will)."""
    assert client_address(http_request(client=("127.0.0.1", 40000))) == "127.0.0.1"
    assert client_address(http_request(client=("::1", 40000))) == "::/64"
    forged = http_request(client=("127.0.0.1", 40000), headers=[("X-Forwarded-For", "81.2.69.160")])
    assert client_address(forged) == "127.0.0.1"


def test_named_proxies_are_trusted_and_skipped_from_the_right():
    trust = ProxyTrust.from_settings(Settings(trusted_proxies=("127.0.0.1/32", "10.0.0.0/8")))
    through = http_request(client=("127.0.0.1", 1), headers=[("X-Forwarded-For", "1.1.1.1, 81.2.69.160, 10.1.2.3")])
    assert client_address(through, trust_forwarded=trust) == "81.2.69.160"  # 10.1.2.3 is a proxy of ours
    direct = http_request(client=("81.2.69.161", 1), headers=[("X-Forwarded-For", "1.1.1.1")])
    assert client_address(direct, trust_forwarded=trust) == "81.2.69.161"  # not through a named proxy
    bare = http_request(client=("127.0.0.1", 1))
    assert client_address(bare, trust_forwarded=trust) == "127.0.0.1"  # no header: the peer itself
    anyone = ProxyTrust.from_settings(Settings(trusted_proxies=("*",)))
    assert client_address(direct, trust_forwarded=anyone) == "1.1.1.1"


def test_ipv6_addresses_share_their_slash_64():
    one = http_request(client=("2a00:1450:4001:81b::200e", 1))
    other = http_request(client=("2a00:1450:4001:81b:1234:5678:9abc:def0", 1))
    elsewhere = http_request(client=("2a00:1450:4001:81c::1", 1))
    assert client_address(one) == client_address(other) == "2a00:1450:4001:81b::/64"
    assert client_address(elsewhere) == "2a00:1450:4001:81c::/64"
    forwarded = http_request(client=("10.0.0.5", 1), headers=[("X-Forwarded-For", "[2a00:1450:4001:81b::1]:443")])
    assert client_address(forwarded, trust_forwarded=True) == "2a00:1450:4001:81b::/64"


def test_ipv4_mapped_and_ported_forms_are_plain_ipv4():
    assert client_address(http_request(client=("::ffff:81.2.69.160", 1))) == "81.2.69.160"
    forwarded = http_request(client=("10.0.0.5", 1), headers=[("X-Forwarded-For", "81.2.69.160:5123")])
    assert client_address(forwarded, trust_forwarded=True) == "81.2.69.160"


def test_a_request_nothing_identifies_gets_the_shared_anonymous_key():
    assert visitor_keys(http_request(client=None, session=None)) == [ANONYMOUS_KEY]


def test_trust_forwarded_for_settings():
    assert trust_forwarded_for(Settings(_on_spaces=True))
    assert trust_forwarded_for(Settings(share=True))  # listening on loopback: only the tunnel reaches us
    assert not trust_forwarded_for(Settings(share=True, host="0.0.0.0"))  # anyone on the LAN could forge it
    assert not trust_forwarded_for(Settings(public=True))
    assert trust_forwarded_for(Settings(public=True, trusted_proxies=("127.0.0.1/32",)))


def test_the_host_is_told_once_at_start_up_when_every_peer_looks_the_same():
    told = same_peer_warning(Settings(public=True, quota_images_per_hour=20, daily_budget=5.0))
    assert told and "--trusted-proxies 127.0.0.1" in told and "share one quota" in told and "$5" in told
    assert same_peer_warning(Settings(public=True, trusted_proxies=("127.0.0.1/32",))) is None
    assert same_peer_warning(Settings(public=True, host="0.0.0.0")) is None  # visitors' own addresses
    assert same_peer_warning(Settings(public=False)) is None
    assert same_peer_warning(Settings(share=True)) is None  # the tunnel says who they are
