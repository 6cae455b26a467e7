"""Malformed calls of the app's Gradio API, straight over HTTP: each gets a clear message, never a blank
error, an HTTP 500 or a traceback in the host's log."""

from __future__ import annotations

import json

import httpx
import pytest
from playground import serve

pytestmark = pytest.mark.timeout(120)
BASE = ["a fox", "1:1", "jpg", "block_only_high"]


def answer(url: str, api: str, data: object) -> tuple[int, str, str | None]:
    """(HTTP status of the call, the stream's last event, its message)."""
    posted = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, timeout=30)
    if posted.status_code != 200:
        return posted.status_code, "", posted.text
    stream = httpx.get(f"{url}gradio_api/call/{api}/{posted.json()['event_id']}", timeout=30).text
    event = stream.split("event: ")[-1].split("\n", 1)[0]
    data_line = stream.rsplit("data: ", 1)[-1].strip()
    message = json.loads(data_line).get("error") if event == "error" else None
    return 200, event, message


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from imagen_ui.emulator import Emulator

    emulator = Emulator(latency=0.05).start()
    try:
        with serve(tmp_path_factory.mktemp("o"), api_base=emulator.base_url, public=True) as (_, url):
            yield url, emulator
    finally:
        emulator.stop()


CASES = {
    "num_images=10**400": ("generate", [*BASE, 10**400], "Number of images"),
    "num_images=-10**400": ("generate", [*BASE, -(10**400)], "Number of images"),
    "one value of five": ("generate", ["a fox"], "prompt"),
    "no values": ("history", [], "query"),
    "models as a number": ("compare", ["a fox", 2, "1:1"], "Models"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_malformed_call_gets_a_clear_message(site, capfd, case):
    url, emulator = site
    api, data, words = CASES[case]
    before = len(emulator.predictions())
    status, event, message = answer(url, api, data)
    _, err = capfd.readouterr()
    print(f"\n{case}: HTTP {status}, {event or '-'}: {message!r}")
    assert (status, event) == (200, "error") and message and words.lower() in message.lower()
    assert "Traceback" not in err
    assert len(emulator.predictions()) == before  # nothing was sent


def test_an_unknown_endpoint_is_a_404_not_a_500(site, capfd):
    url, _ = site
    posted = httpx.post(f"{url}gradio_api/call/no_such_endpoint", json={"data": []}, timeout=30)
    _, err = capfd.readouterr()
    print(f"\nunknown endpoint: HTTP {posted.status_code} {posted.text[:80]!r}")
    assert posted.status_code == 404 and "no_such_endpoint" in posted.text
    assert "Traceback" not in err
