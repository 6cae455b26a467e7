"""Public mode (share link, Space): quotas, per-visitor history, visitors' own tokens, login, flood."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from playground import serve
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parent.parent
PERMISSIVE = "block_only_high"
ALICE = "imagen_ui_visitor=aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
BOB = "imagen_ui_visitor=bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
# Visitors reach the app through a proxy on this machine that says who they are (X-Forwarded-For).
BEHIND_PROXY = {"trusted_proxies": ("127.0.0.1/32",)}
ADDRESSES = {ALICE: "81.2.69.160", BOB: "81.2.69.161"}


def visitor(url: str, cookie: str) -> Client:
    return Client(url, verbose=False, analytics_enabled=False,
                  headers={"cookie": cookie, "x-forwarded-for": ADDRESSES[cookie]})


def make(client: Client, prompt: str, n: int = 1):
    return client.predict(prompt, "1:1", "jpg", PERMISSIVE, n, api_name="/generate")


@pytest.fixture
def emulator(make_emulator):
    return make_emulator(latency=0.05)


def test_hourly_quota_per_visitor_with_a_clear_message(emulator, tmp_path):
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True, **BEHIND_PROXY,
               quota_images_per_hour=3, quota_concurrent=1) as (_, url):
        alice, bob = visitor(url, ALICE), visitor(url, BOB)
        make(alice, "alice one", n=2)
        with pytest.raises(AppError) as refused:
            make(alice, "alice two", n=2)
        message = str(refused.value)
        assert "limit" in message and "minute" in message and "own Replicate token" in message
        assert len(emulator.predictions()) == 2  # the refused click sent nothing
        make(alice, "alice three", n=1)  # what is left of her hour still works
        make(bob, "bob is not limited by alice", n=3)
        assert len(emulator.predictions()) == 6


def test_each_visitor_sees_only_their_own_history(emulator, tmp_path):
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True, **BEHIND_PROXY) as (app, url):
        alice, bob = visitor(url, ALICE), visitor(url, BOB)
        make(alice, "alice's secret garden")
        make(bob, "bob's boat")
        alice_sees, _ = alice.predict("", api_name="/history")
        bob_sees, _ = bob.predict("", api_name="/history")
        assert [i["caption"] for i in alice_sees] == ["alice's secret garden"]
        assert [i["caption"] for i in bob_sees] == ["bob's boat"]
        bob_search, label = bob.predict("garden", api_name="/history")
        assert bob_search == [] and "No images match" in label
        # Even a direct request for the index gets nothing: only image files are served.
        index = app.service.history.root / "history.sqlite3"
        answer = httpx.get(f"{url}gradio_api/file={index}")
        assert answer.status_code in (403, 404) and b"SQLite" not in answer.content


def test_a_flood_from_one_visitor_leaves_others_unaffected(emulator, tmp_path):
    emulator.set_latency(1.0)
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True, **BEHIND_PROXY,
               quota_images_per_hour=100, quota_concurrent=2) as (_, url):
        flooder, other = visitor(url, ALICE), visitor(url, BOB)
        jobs = [flooder.submit(f"flood {i}", "1:1", "jpg", PERMISSIVE, 1, api_name="/generate")
                for i in range(20)]
        started = time.monotonic()
        gallery, _ = make(other, "a calm request")
        assert len(gallery) == 1 and time.monotonic() - started < 3.0
        outcomes = []
        for job in jobs:
            try:
                job.result(timeout=30)
                outcomes.append("ok")
            except AppError as error:
                outcomes.append("busy" if "running" in str(error) else str(error))
        assert outcomes.count("ok") >= 2 and outcomes.count("busy") >= 10, outcomes
        assert set(outcomes) <= {"ok", "busy"}


def test_login_when_auth_is_set(emulator, tmp_path):
    with serve(tmp_path / "o", api_base=emulator.base_url, auth=(("ann", "s3cret:pw"),)) as (_, url):
        assert httpx.get(f"{url}config").status_code in (401, 403)  # nothing without logging in
        with pytest.raises(Exception):
            Client(url, verbose=False, analytics_enabled=False)
        with pytest.raises(Exception):
            Client(url, verbose=False, analytics_enabled=False, auth=("ann", "wrong"))
        client = Client(url, verbose=False, analytics_enabled=False, auth=("ann", "s3cret:pw"))
        assert len(make(client, "behind a login")[0]) == 1


def test_visitor_uses_their_own_token_and_is_not_limited(make_emulator, tmp_path, page):  # noqa: F811
    # The host set no token: without their own, visitors are refused; with it, they generate freely.
    emulator = make_emulator(latency=0.05, token="r8_visitor-own-token")
    with serve(tmp_path / "o", api_base=emulator.base_url, token=None, public=True,
               quota_images_per_hour=1, quota_concurrent=1) as (_, url):
        page.goto(url)
        page.locator("#prompt textarea").fill("paid by the host?")
        page.locator("#generate").click()
        expect(page.locator("#status")).to_contain_text("No Replicate API token")

        page.locator("#own-token").get_by_text("Use your own Replicate token").click()
        page.locator("#own-token-box input").fill("r8_visitor-own-token")
        page.locator("#own-token-check").click()
        expect(page.locator("#own-token-status")).to_contain_text("emulator")
        page.locator("#prompt textarea").fill("paid by the visitor")
        page.locator("#num_images input[type=number]").fill("3")
        page.locator("#generate").click()
        expect(page.locator("#gallery button.thumbnail-item")).to_have_count(3, timeout=10_000)
        assert all(r.headers.get("authorization") in (None, "Bearer r8_visitor-own-token")
                   for r in emulator.requests)


def test_readme_front_matter_makes_a_valid_space():
    text = (ROOT / "README.md").read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README must start with Hugging Face Space front matter"
    meta = dict(line.split(":", 1) for line in match.group(1).splitlines())
    meta = {k.strip(): v.strip().strip('"') for k, v in meta.items()}
    pinned = re.search(r"^gradio==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == pinned
    assert meta["app_file"] == "app.py" and (ROOT / meta["app_file"]).exists()
    assert meta["python_version"].startswith("3.")
    for key in ("title", "emoji", "short_description", "license"):
        assert meta.get(key), key
    assert len(meta["short_description"]) <= 60  # Spaces' limit


def test_a_visitor_sees_how_many_images_are_left_this_hour(emulator, tmp_path, page):  # noqa: F811
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True, quota_images_per_hour=5,
               quota_concurrent=2) as (_, url):
        page.goto(url)
        page.locator("#own-token").get_by_text("Use your own Replicate token").click()
        expect(page.locator("#own-token")).to_contain_text("paid by its host")  # the host has a token here
        left = page.locator("#quota-left")
        page.locator("#prompt textarea").click()
        expect(left).to_have_text("5 images left this hour on this demo's token.")
        page.locator("#prompt textarea").fill("two of five")
        page.locator("#num_images input[type=number]").fill("2")
        page.locator("#num_images input[type=number]").press("Enter")
        page.locator("#generate").click()
        expect(left).to_have_text("3 images left this hour on this demo's token.", timeout=10_000)
        page.locator("#own-token-forget").click()
        expect(page.locator("#own-token-status")).to_contain_text("nothing to forget")
