"""Malformed visitor tokens, sent as the page sends them (the account panel's Check), against the real app."""

from __future__ import annotations

import logging

import pytest
import raw_gradio
from playground import serve

pytestmark = pytest.mark.timeout(120)

BAD_TOKENS = {
    "CR/LF": "r8_CANARYcrlf\r\nX-Injected: yes",
    "non-ASCII": "r8_CANARYnonascii\u00e9\u2603",
    "NUL": "r8_CANARYnul\x00tail",
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_malformed_token_gets_a_clear_answer_and_never_reaches_a_log(emulator, tmp_path, caplog, capfd, kind):
    """A token with CR/LF was logged verbatim inside "Illegal header value …"; a non-ASCII one gave a
    blank answer and a traceback."""
    token = BAD_TOKENS[kind]
    caplog.set_level(logging.DEBUG)
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True) as (_, url):
        cfg = raw_gradio.config(url)
        fn_index, trigger = raw_gradio.event_index(cfg, "own-token-check", "click")
        answer = raw_gradio.call(url, fn_index, [token, False], trigger_id=trigger)
    out, err = capfd.readouterr()
    said = repr(answer)
    print(f"\n{kind} token: {said[:300]}")
    assert answer.get("success"), said
    status_text = answer["output"]["data"][1]
    assert "token" in status_text.lower() and "CANARY" not in status_text
    for text in (caplog.text, out, err, said):
        assert "CANARY" not in text and "Traceback" not in text
    assert not any(r.headers.get("authorization", "").startswith("Bearer r8_CANARY") for r in emulator.requests)


# --- in the browser ---------------------------------------------------------------------------------------

from playwright.sync_api import expect  # noqa: E402

TOKEN = "r8_BROWSERCANARY0123456789abcdefghijklm"


def storage(page) -> str:
    return page.evaluate("() => JSON.stringify(Object.assign({}, localStorage))")


def open_panel(page) -> None:
    if not page.locator("#own-token-box input").is_visible():
        page.locator("#own-token").get_by_text("Use your own Replicate token").click()


def check(page, token: str, *, remember: bool) -> None:
    open_panel(page)
    if remember:
        page.locator("#own-token-remember input").check()
    page.locator("#own-token-box input").fill(token)
    page.locator("#own-token-check").click()
    expect(page.locator("#own-token-status")).to_contain_text("emulator")


def test_a_token_is_kept_in_the_browser_only_when_asked_and_forget_forgets_everywhere(
        make_emulator, tmp_path, browser):
    """Before: the token went into the page's run history (localStorage) in clear, and into Gradio's
    encrypted BrowserState under a key the page's /config gave to anyone; the next person at that
    browser used it; Forget forgot one browser only."""
    import httpx

    emulator = make_emulator(latency=0.05)
    with serve(tmp_path / "o", api_base=emulator.base_url, public=True) as (app, url):
        cookie = {"name": "imagen_ui_visitor", "value": "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa", "url": url}
        home = browser.new_context()
        home.add_cookies([cookie])
        page = home.new_page()
        page.goto(url)
        check(page, TOKEN, remember=False)
        stored = storage(page)
        assert "CANARY" not in stored and "remembered-token" not in stored  # nothing kept, nothing readable
        assert page.locator("#own-token-box input").input_value() == ""  # the box is emptied
        page.reload()
        open_panel(page)
        expect(page.locator("#own-token-status")).not_to_contain_text("Using your")  # not remembered

        check(page, TOKEN, remember=True)
        expect(page.locator("#own-token-status")).to_contain_text("remembered on this device")
        seal = page.evaluate("() => localStorage.getItem('imagen-ui-remembered-token')")
        assert seal and "CANARY" not in seal and "CANARY" not in storage(page)
        config = httpx.get(f"{url}config", timeout=10).text
        key = (app.service.history.root / ".remembered-token-key").read_text()
        assert key.strip() not in config and "CANARY" not in config
        page.reload()
        open_panel(page)
        expect(page.locator("#own-token-status")).to_contain_text("remembered token")

        # Someone copies the seal into another browser (without this one's cookie): it opens nothing.
        other = browser.new_context()
        elsewhere = other.new_page()
        elsewhere.goto(url)
        elsewhere.evaluate("(seal) => localStorage.setItem('imagen-ui-remembered-token', seal)", seal)
        elsewhere.reload()
        open_panel(elsewhere)
        elsewhere.wait_for_timeout(1000)
        assert "Using your" not in elsewhere.locator("#own-token-status").inner_text()

        # A second device of the same visitor remembered it too; Forget on the first forgets both.
        phone = browser.new_context()
        phone.add_cookies([cookie])
        phone_page = phone.new_page()
        phone_page.goto(url)
        phone_page.evaluate("(seal) => localStorage.setItem('imagen-ui-remembered-token', seal)", seal)
        page.locator("#own-token-forget").click()
        expect(page.locator("#own-token-status")).to_contain_text("forgotten")
        assert page.evaluate("() => localStorage.getItem('imagen-ui-remembered-token')") is None
        phone_page.reload()
        open_panel(phone_page)
        phone_page.wait_for_timeout(1000)
        assert "Using your" not in phone_page.locator("#own-token-status").inner_text()
        for context in (home, other, phone):
            context.close()
