"""The host's daily budget, end to end on the real app: spent, refused with the message, a visitor's own
token still works, the next day resets it; and what is refunded when a create fails."""

from __future__ import annotations

import logging

import httpx
import pytest
import raw_gradio
from gradio_client import Client
from gradio_client.exceptions import AppError
from playground import serve

from imagen_ui.public.budget import Budget, BudgetSpent

pytestmark = pytest.mark.timeout(180)
COOKIE = "imagen_ui_visitor=aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
DAY = 1_796_083_200.0  # 2026-12-01 00:00 UTC


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(client: Client, prompt: str, n: int):
    return client.predict(prompt, "1:1", "jpg", "block_only_high", n, api_name="/generate")


def test_the_budget_is_spent_refused_plainly_lifted_by_a_visitors_token_and_reset_the_next_day(
        make_emulator, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    emulator = make_emulator(latency=0.05)
    # imagen-4-fast is $0.02 an image: 10 cents is five images.
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True, daily_budget=0.10,
               quota_images_per_hour=0, quota_concurrent=0) as (app, url):
        clock = Clock(DAY + 20 * 3600)  # 20:00 UTC: four hours to midnight
        app.service.budget.clock = clock
        visitor = Client(url, verbose=False, analytics_enabled=False, headers={"cookie": COOKIE})
        assert len(make(visitor, "four", 4)[0]) == 4
        with pytest.raises(AppError) as short:
            make(visitor, "two more", 2)
        assert "about $0.02 left" in str(short.value) and "about $0.04" in str(short.value)
        assert len(make(visitor, "the last one", 1)[0]) == 1
        with pytest.raises(AppError) as spent:
            make(visitor, "one too many", 1)
        said = str(spent.value)
        print(f"\nrefused: {said}")
        assert "spent its budget for today" in said and "$0.10 a day" in said
        assert "in about 4 hours" in said and "own Replicate token" in said
        assert len(emulator.predictions()) == 5  # the refused clicks sent nothing

        # The same visitor brings their own token: it is not counted against the host's budget.
        session = raw_gradio.Session(url, cookie=COOKIE)
        cfg = raw_gradio.config(url)
        check, check_trigger = raw_gradio.event_index(cfg, "own-token-check", "click")
        checked = raw_gradio.result(session, session.join(check, ["r8_visitorsOwnToken0123456789abcdef01", False],
                                                          trigger_id=check_trigger))
        assert "Using your token" in checked["output"]["data"][1]
        generate, trigger = raw_gradio.event_index(cfg, "generate", "click")
        own = raw_gradio.result(session, session.join(
            generate, ["with my own token", "1:1", "jpg", "block_only_high", 2, None], trigger_id=trigger))
        session.close()
        assert own["success"], own
        paid_by_visitor = [r for r in emulator.requests if r.method == "POST" and r.path.endswith("/predictions")
                           and r.headers.get("authorization") == "Bearer r8_visitorsOwnToken0123456789abcdef01"]
        assert len(paid_by_visitor) == 2
        assert app.service.budget.spent_today() == pytest.approx(0.10)

        clock.now = DAY + 86_400 + 60  # the next day, 00:01 UTC
        assert len(make(visitor, "a new day", 4)[0]) == 4
        assert app.service.budget.spent_today() == pytest.approx(0.08)
    log = caplog.text
    assert "Daily budget: $0.10 of $0.10 spent today (UTC 2026-12-01" in log
    assert "refused until midnight UTC" in log and "$0.10 spent on 2026-12-01" in log


def test_only_creates_that_certainly_never_reached_replicate_are_refunded(make_emulator, tmp_path):
    emulator = make_emulator(latency=0.05)
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True, daily_budget=1.00,
               quota_images_per_hour=0, quota_concurrent=0) as (app, url):
        visitor = Client(url, verbose=False, analytics_enabled=False, headers={"cookie": COOKIE})
        budget = app.service.budget
        # Replicate answers 402: it made nothing, the image is refunded.
        emulator.inject_fault("POST", "/v1/models/", 402)
        with pytest.raises(AppError):
            make(visitor, "refused by Replicate", 1)
        assert budget.spent_today() == pytest.approx(0.0)
        # A 500 after the create was sent: a prediction may exist, so it stays charged.
        emulator.inject_fault("POST", "/v1/models/", 500)
        with pytest.raises(AppError):
            make(visitor, "maybe made", 1)
        assert budget.spent_today() == pytest.approx(0.02)
        # The connection drops after Replicate created it: charged.
        emulator.inject_fault("POST", "/v1/models/", "drop_after_create")
        with pytest.raises(AppError):
            make(visitor, "made, answer lost", 1)
        assert budget.spent_today() == pytest.approx(0.04)
        assert httpx.get(url, timeout=10).status_code == 200


def test_the_day_rolls_over_and_the_log_says_the_spend(caplog):
    caplog.set_level(logging.INFO)
    clock = Clock(DAY + 3600)
    budget = Budget(1.00, clock=clock)
    holds = [budget.charge(0.25) for _ in range(4)]
    with pytest.raises(BudgetSpent):
        budget.charge(0.01)
    holds[0].settle(0.25)  # refunded: room again
    assert budget.remaining() == pytest.approx(0.25)
    holds[0].settle(0.25)  # only the first settle counts
    assert budget.remaining() == pytest.approx(0.25)
    clock.now += 86_400
    holds[1].settle(0.25)  # yesterday's charge stays yesterday's
    assert budget.spent_today() == 0.0 and budget.remaining() == 1.00
    steps = [r.getMessage() for r in caplog.records if "estimates from" in r.getMessage()]
    assert steps[0].startswith("Daily budget: $0.25 of $1.00") and len(steps) == 4
    assert "Daily budget: $0.75 spent on 2026-12-01 (UTC) of $1.00" in caplog.text


def test_no_limit_counts_and_never_refuses():
    budget = Budget(None)
    budget.charge(1e6)
    assert not budget.enabled and budget.remaining() == float("inf")
    with pytest.raises(ValueError):
        Budget(-1.0)


def test_the_page_shows_the_estimate_before_a_click_and_the_historys_total(make_emulator, tmp_path, browser):
    from playwright.sync_api import expect

    emulator = make_emulator(latency=0.05)
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True, daily_budget=5.0) as (_, url):
        page = browser.new_page()
        page.goto(url)
        expect(page.locator("#estimate")).to_contain_text("about $0.02 for 1 image (estimate")
        count = page.locator("#num_images input[type=number]")
        count.fill("4")
        count.press("Tab")
        expect(page.locator("#estimate")).to_contain_text("about $0.08 for 4 images (estimate")
        page.locator("#prompt textarea").fill("a lighthouse at dusk")
        page.locator("#generate").click()
        expect(page.locator("#gallery button.thumbnail-item")).to_have_count(4, timeout=15_000)
        page.get_by_role("tab", name="History").click()
        expect(page.locator("#history-page")).to_contain_text("4 images · about $0.08 (estimate")
        page.close()
