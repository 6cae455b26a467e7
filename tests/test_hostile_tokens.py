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
        answer = raw_gradio.call(url, fn_index, [token], trigger_id=trigger)
    out, err = capfd.readouterr()
    said = repr(answer)
    print(f"\n{kind} token: {said[:300]}")
    assert answer.get("success"), said
    status_text = answer["output"]["data"][1]
    assert "token" in status_text.lower() and "CANARY" not in status_text
    for text in (caplog.text, out, err, said):
        assert "CANARY" not in text and "Traceback" not in text
    assert not any(r.headers.get("authorization", "").startswith("Bearer r8_CANARY") for r in emulator.requests)
