"""ReplicateClient against a scripted loopback server of our own.

For what the emulator does not do: a second origin (mirror, foreign host, redirector) that records the
headers it was sent, and API answers the emulator never gives (402, odd error bodies, `aborted`, a
sync answer with the output in while the status says `processing`, a list page that misses a prediction).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from client_helpers import image_bytes

from imagen_ui.replicate.client import (
    DownloadError,
    InsufficientCreditError,
    Prediction,
    PredictionAbortedError,
    ReplicateClient,
    ReplicateError,
    RetryPolicy,
    ServerError,
    UnauthenticatedError,
)

pytestmark = pytest.mark.anyio

MODEL = "google/imagen-4-fast"
CREATE_PATH = f"/v1/models/{MODEL}/predictions"
TOKEN = "r8_scripted_test_token"
FAST_RETRY = RetryPolicy(attempts=2, base_delay=0.01)




@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    declare_length: bool = True  # False: no Content-Length, the body ends when the connection closes

    @classmethod
    def json(cls, data: Any, status: int = 200, *headers: tuple[str, str]) -> Reply:
        return cls(status, json.dumps(data).encode(), (("Content-Type", "application/json"), *headers))


class ScriptedServer:
    """A loopback HTTP server answering from a table and recording what it was sent.

    `routes` maps "METHOD /path" (or just "/path", any method; query strings included) to a Reply,
    or to a callable returning one for answers that change from call to call.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Reply | Callable[[], Reply]] = {}
        self.received: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.received.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(f"{self.command} {self.path}") or server.routes.get(self.path)
                reply = route() if callable(route) else route or Reply(404, b"not here")
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                if reply.declare_length:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = answer  # noqa: N815 (http.server's naming)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def headers_for(self, path: str) -> list[dict[str, str]]:
        return [headers for _, p, headers in self.received if p == path]

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.received if m == method and p == path)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def mirror() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture
def foreign() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


def prediction_json(pid: str, status: str = "starting", output: Any = None, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "model": MODEL, "version": "hidden", "input": {"prompt": "p"}, "status": status,
            "output": output, "error": None, "logs": "", "urls": {}, **extra}


# -- API answers the emulator never gives -----------------------------------------------------------


async def test_payment_required_is_insufficient_credit(mirror) -> None:
    problem = {"title": "Insufficient credit", "detail": "You have insufficient credit to run this model.",
               "status": 402}
    mirror.routes[f"POST {CREATE_PATH}"] = Reply.json(problem, 402)
    async with ReplicateClient(TOKEN, base_url=mirror.origin, retry=FAST_RETRY) as client:
        with pytest.raises(InsufficientCreditError) as info:
            await client.run(MODEL, {"prompt": "p"})
    assert info.value.status == 402 and info.value.title == "Insufficient credit"
    assert "insufficient credit" in str(info.value).lower()
    assert mirror.count("POST", CREATE_PATH) == 1


async def test_html_error_page_still_gives_a_sensible_typed_error(mirror) -> None:
    mirror.routes["/v1/account"] = Reply(502, b"<html><body>upstream went away</body></html>",
                                         (("Content-Type", "text/html"),))
    async with ReplicateClient(TOKEN, base_url=mirror.origin, retry=FAST_RETRY) as client:
        with pytest.raises(ServerError) as info:
            await client.account()
    assert str(info.value) == "Bad Gateway (HTTP 502)" and info.value.status == 502
    assert mirror.count("GET", "/v1/account") == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'["not", "an", "object"]', "Forbidden (HTTP 403)"),
        (b'{"detail": "You may not use this model."}', "You may not use this model. (HTTP 403)"),
        (b'{"error": "model is private"}', "model is private (HTTP 403)"),
    ],
)
async def test_unknown_error_shapes_give_a_message(mirror, body: bytes, expected: str) -> None:
    mirror.routes["/v1/account"] = Reply(403, body, (("Content-Type", "application/json"),))
    async with ReplicateClient(TOKEN, base_url=mirror.origin) as client:
        with pytest.raises(ReplicateError) as info:
            await client.account()
    assert type(info.value) is ReplicateError and str(info.value) == expected


async def test_retry_after_in_the_body_is_honoured(mirror) -> None:
    answers = iter([Reply.json({"title": "Request was throttled.", "retry_after": 0}, 429),
                    Reply.json({"username": "u"})])
    mirror.routes["/v1/account"] = lambda: next(answers)
    async with ReplicateClient(TOKEN, base_url=mirror.origin, retry=RetryPolicy(base_delay=5.0)) as client:
        assert (await client.account())["username"] == "u"  # base_delay 5 s would time the test out


async def test_non_json_success_is_an_error(mirror) -> None:
    mirror.routes["/v1/account"] = Reply(200, b"<html>captive portal</html>")
    async with ReplicateClient(TOKEN, base_url=mirror.origin) as client:
        with pytest.raises(ReplicateError, match="not JSON"):
            await client.account()


async def test_aborted_prediction_raises_aborted(mirror) -> None:
    mirror.routes[f"POST {CREATE_PATH}"] = Reply.json(prediction_json("abc", "aborted"), 201)
    async with ReplicateClient(TOKEN, base_url=mirror.origin) as client:
        with pytest.raises(PredictionAbortedError) as info:
            await client.run(MODEL, {"prompt": "p"})
    assert info.value.prediction.status == "aborted"


async def test_aborted_while_polling_ends_the_wait(mirror) -> None:
    # The official client forgets `aborted` and polls forever; this one must stop.
    answers = iter([prediction_json("abc", "starting"), prediction_json("abc", "aborted")])
    mirror.routes["/v1/predictions/abc"] = lambda: Reply.json(next(answers))
    async with ReplicateClient(TOKEN, base_url=mirror.origin, poll_interval=0.05) as client:
        done = await client.wait(Prediction.from_json(prediction_json("abc")), timeout=5)
    assert done.status == "aborted" and done.is_terminal


async def test_output_already_in_while_processing_needs_no_poll(mirror) -> None:
    url = "https://replicate.delivery/xezq/abc/out.jpg"
    answer = prediction_json("abc", "processing", url)
    mirror.routes[f"POST {CREATE_PATH}"] = Reply.json(answer, 201, ("Preference-Applied", "wait=1"))
    async with ReplicateClient(TOKEN, base_url=mirror.origin) as client:
        prediction = await client.run(MODEL, {"prompt": "p"})
    assert prediction.status == "processing" and prediction.output_urls == [url]
    assert client.calls == {"create": 1}


async def test_predictions_missing_from_the_list_get_their_own_get(mirror) -> None:
    mirror.routes["GET /v1/predictions"] = Reply.json({"next": None, "previous": None, "results": []})
    for pid in ("aaa", "bbb"):
        mirror.routes[f"/v1/predictions/{pid}"] = Reply.json(prediction_json(pid, "succeeded", "https://x/y.png"))
    async with ReplicateClient(TOKEN, base_url=mirror.origin, poll_interval=0.05) as client:
        waiting = [client.wait(Prediction.from_json(prediction_json(pid))) for pid in ("aaa", "bbb")]
        done = await asyncio.gather(*waiting)
    assert [p.status for p in done] == ["succeeded", "succeeded"]
    assert client.calls == {"list": 1, "get": 2}


async def test_revoked_token_while_polling_ends_the_wait(mirror) -> None:
    problem = {"title": "Unauthenticated", "detail": "You did not pass a valid authentication token",
               "status": 401}
    mirror.routes["/v1/predictions/abc"] = Reply.json(problem, 401)
    async with ReplicateClient(TOKEN, base_url=mirror.origin, poll_interval=0.05) as client:
        with pytest.raises(UnauthenticatedError):
            await client.wait(Prediction.from_json(prediction_json("abc")), timeout=5)
        assert client.waiting == 0


# -- downloads from a second origin -----------------------------------------------------------------


async def test_plain_http_to_an_unlisted_loopback_port_is_refused(emulator, foreign) -> None:
    foreign.routes["/out.png"] = Reply(body=image_bytes())
    async with ReplicateClient(TOKEN, base_url=emulator.base_url) as client:
        with pytest.raises(DownloadError):
            await client.download(f"{foreign.origin}/out.png")
    assert foreign.received == []


async def test_token_goes_to_the_api_origin_only(emulator, mirror) -> None:
    mirror.routes["/out.png"] = Reply(body=image_bytes())
    async with ReplicateClient(TOKEN, base_url=emulator.base_url, extra_download_origins=[mirror.origin]) as client:
        prediction = await client.run(MODEL, {"prompt": "a red kite"})
        await client.download(prediction.output)
        download = await client.download(f"{mirror.origin}/out.png")
    assert download.format == "png"
    assert [h.get("authorization") for h in mirror.headers_for("/out.png")] == [None]
    files = [r for r in emulator.requests if r.path.startswith("/files/")]
    assert [r.headers.get("authorization") for r in files] == [f"Bearer {TOKEN}"]


async def test_redirect_off_the_api_origin_drops_the_token(mirror, foreign) -> None:
    # The mirror plays the API origin here (the emulator does not redirect); `foreign` is a configured
    # plain-http mirror: allowed, but never trusted with the token.
    foreign.routes["/final.png"] = Reply(body=image_bytes())
    mirror.routes["/hop"] = Reply(302, headers=(("Location", f"{foreign.origin}/final.png"),))
    async with ReplicateClient(TOKEN, base_url=mirror.origin, extra_download_origins=[foreign.origin]) as client:
        download = await client.download(f"{mirror.origin}/hop")
    assert download.url == f"{mirror.origin}/hop" and download.format == "png"
    assert mirror.headers_for("/hop")[0]["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in foreign.headers_for("/final.png")[0]


async def test_token_is_not_restored_when_a_redirect_comes_back(mirror, foreign) -> None:
    mirror.routes["/start"] = Reply(302, headers=(("Location", f"{foreign.origin}/bounce"),))
    foreign.routes["/bounce"] = Reply(302, headers=(("Location", f"{mirror.origin}/final.png"),))
    mirror.routes["/final.png"] = Reply(body=image_bytes())
    async with ReplicateClient(TOKEN, base_url=mirror.origin, extra_download_origins=[foreign.origin]) as client:
        await client.download(f"{mirror.origin}/start")
    assert "authorization" not in mirror.headers_for("/final.png")[0]


@pytest.mark.parametrize("target", ["http://127.0.0.1:9/x.png", "file:///etc/passwd", "ftp://example.com/x.png"])
async def test_redirect_to_a_disallowed_url_is_refused(mirror, target: str) -> None:
    mirror.routes["/hop"] = Reply(302, headers=(("Location", target),))
    async with ReplicateClient(TOKEN, base_url=mirror.origin) as client:
        with pytest.raises(DownloadError):
            await client.download(f"{mirror.origin}/hop")


async def test_redirect_loops_end(mirror) -> None:
    mirror.routes["/loop"] = Reply(302, headers=(("Location", "/loop"),))
    async with ReplicateClient(TOKEN, base_url=mirror.origin) as client:
        with pytest.raises(DownloadError, match="redirects"):
            await client.download(f"{mirror.origin}/loop")
    assert len(mirror.received) == 6


async def test_oversize_download_without_content_length_is_cut_off(mirror) -> None:
    mirror.routes["/big.png"] = Reply(body=image_bytes() + b"\0" * 50_000, declare_length=False)
    async with ReplicateClient(TOKEN, base_url=mirror.origin, max_download_bytes=20_000) as client:
        with pytest.raises(DownloadError, match="larger"):
            await client.download(f"{mirror.origin}/big.png")


@pytest.mark.parametrize(
    "body",
    [b"<html>an error page</html>", b"", image_bytes("PNG")[:-40], image_bytes("JPEG")[:300]],
    ids=["html", "empty", "truncated-png", "truncated-jpeg"],
)
async def test_bytes_that_are_not_a_whole_image_are_refused(mirror, body: bytes) -> None:
    mirror.routes["/out.png"] = Reply(body=body, headers=(("Content-Type", "image/png"),))
    async with ReplicateClient(TOKEN, base_url=mirror.origin) as client:
        with pytest.raises(DownloadError, match="not a readable image"):
            await client.download(f"{mirror.origin}/out.png")


async def test_transient_failure_is_retried_once(mirror) -> None:
    answers = iter([Reply(503, b"busy"), Reply(body=image_bytes())])
    mirror.routes["/out.png"] = lambda: next(answers)
    async with ReplicateClient(TOKEN, base_url=mirror.origin, retry=FAST_RETRY) as client:
        download = await client.download(f"{mirror.origin}/out.png")
    assert download.format == "png" and client.calls["download"] == 2
