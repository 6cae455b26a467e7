"""A canary token for the host and one for a visitor: neither may show up anywhere but where it must."""

from __future__ import annotations

import logging

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from playground import serve
from playwright.sync_api import expect

HOST = "r8_HOSTCANARY7f3a9c1e5b2d4f6a8c0e"
VISITOR = "r8_VISITORCANARY2b4d6f8a0c1e3a5"
PERMISSIVE = "block_only_high"


def test_no_token_leaks_anywhere(make_emulator, tmp_path, page, caplog, capfd):  # noqa: F811
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    emulator = make_emulator(latency=0.05)
    history = tmp_path / "outputs"
    seen: list[str] = []
    with serve(history, api_base=emulator.base_url, token=HOST, public=True) as (_, url):
        # A visitor in the browser brings their own token and makes an image with it.
        responses: list[str] = []
        page.on("response", lambda r: responses.append(_body(r)))
        page.goto(url)
        page.locator("#own-token").get_by_text("Use your own Replicate token").click()
        page.locator("#own-token-box input").fill(VISITOR)
        page.locator("#own-token-check").click()
        expect(page.locator("#own-token-status")).to_contain_text("emulator")
        page.locator("#prompt textarea").fill("made with the visitor's token")
        page.locator("#generate").click()
        expect(page.locator("#gallery button.thumbnail-item")).to_have_count(1, timeout=10_000)
        seen += [page.content(), *responses]

        # Another visitor uses the API with the host's token: results, errors, API descriptions.
        client = Client(url, verbose=False, analytics_enabled=False)
        seen.append(repr(client.predict("made with the host's token", "16:9", "png", PERMISSIVE, 1,
                                        api_name="/generate")))
        for bad in (("", "1:1", "jpg", PERMISSIVE, 1), ("FLAGGED", "1:1", "jpg", "block_low_and_above", 1)):
            with pytest.raises(AppError) as error:
                client.predict(*bad, api_name="/generate")
            seen.append(str(error.value))
        seen.append(repr(client.predict("", api_name="/history")))
        for path in ("", "config", "gradio_api/info", "gradio_api/openapi.json"):
            seen.append(httpx.get(f"{url}{path}").text)

    assert {p["input"]["prompt"] for p in emulator.predictions()} >= {
        "made with the visitor's token", "made with the host's token"}
    # Both tokens really were used (so the scan below can fail).
    used = {r.headers.get("authorization") for r in emulator.requests}
    assert f"Bearer {HOST}" in used and f"Bearer {VISITOR}" in used

    out, err = capfd.readouterr()
    seen += [caplog.text, out, err]
    seen += [p.read_bytes().decode("latin-1") for p in history.rglob("*") if p.is_file()]
    for text in seen:
        assert HOST not in text
        assert VISITOR not in text
        assert HOST[3:] not in text and VISITOR[3:] not in text  # not even without its prefix


def _body(response) -> str:
    try:
        return response.text()
    except Exception:  # noqa: BLE001 - streams and redirects have no body to read
        return ""
