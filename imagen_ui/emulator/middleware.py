"""The outermost layer: records every request, applies faults, adds rate-limit headers.

It sits outside Starlette so it can see uvicorn's own ``send`` and drop a connection without
any response, which no response object can express.
"""

from __future__ import annotations

import asyncio
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import E005, GONE, Fault, FaultPlan, is_status
from .files import MAX_FILE_BYTES, too_large
from .problems import for_status
from .ratelimit import RateLimit
from .recorder import RecordedRequest, RequestLog

CONTROL_PREFIX = "/_emulator/"
FORCE_FAILURE = "imagen_ui.emulator.force_failure"  # scope key: the route fails the new prediction
_CREATE = re.compile(r"^/v1/(?:predictions|models/[^/]+/[^/]+/predictions)/?$")
RECORDED_BODY_BYTES = 1 << 20  # the log keeps this much of a body (uploads are megabytes)
_MULTIPART_SLACK = 1 << 16  # room for the multipart framing around a file just under the limit


class EmulatorMiddleware:
    def __init__(self, app: ASGIApp, requests: RequestLog, faults: FaultPlan, closing: asyncio.Event) -> None:
        self.app = app
        self.requests = requests
        self.faults = faults
        self.closing = closing  # set at shutdown: a stalled answer goes out at once
        self._limits = {True: RateLimit(600), False: RateLimit(3000)}  # keyed by "is a create"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        upload = method == "POST" and path.rstrip("/") == "/v1/files"
        body, size = await _read_body(receive, MAX_FILE_BYTES + _MULTIPART_SLACK if upload else None)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.requests.add(RecordedRequest(method, path, headers, body[:RECORDED_BODY_BYTES],
                                          scope["query_string"].decode("latin-1"), size))
        if len(body) < size:  # an upload over the limit, read to its end but not kept
            await too_large()(scope, _replay(b"", receive), self._with_limits(send, False))
            return

        api = path.startswith("/v1/")
        create = method == "POST" and bool(_CREATE.match(path))
        fault = self.faults.pick(method, path, api=api, create=create)
        replay = _replay(body, receive)
        out = self._with_limits(send, create) if api else send
        await self._answer(fault, scope, replay, receive, send, out)

    async def _answer(self, fault: Fault | None, scope: Scope, replay: Receive, receive: Receive,
                      send: Send, out: Send) -> None:
        kind = fault.kind if fault else None
        if fault is not None and is_status(kind):
            await for_status(int(kind), fault.retry_after)(scope, replay, out)
        elif kind == "drop":
            await _drop(send, receive)
        elif kind == "stall" and fault is not None:
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self.app(scope, replay, hold)
            if await self._hold(fault.delay, receive):
                for message in held:
                    await out(message)
        elif kind == "drop_after_create":

            async def discard(message: Message) -> None:
                pass

            await self.app(scope, replay, discard)
            await _drop(send, receive)
        else:
            if kind in (E005, GONE):
                scope[FORCE_FAILURE] = kind
            await self.app(scope, replay, out)

    async def _hold(self, delay: float, receive: Receive) -> bool:
        """Wait `delay` seconds; False if the client went away first (nobody to answer)."""
        timer = asyncio.ensure_future(asyncio.sleep(delay))
        closing = asyncio.ensure_future(self.closing.wait())
        gone = asyncio.ensure_future(_disconnected(receive))
        await asyncio.wait([timer, closing, gone], return_when=asyncio.FIRST_COMPLETED)
        client_gone = gone.done()
        for waiter in (timer, closing, gone):
            waiter.cancel()
        return not client_gone

    def _with_limits(self, send: Send, create: bool) -> Send:
        limit = self._limits[create]

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *limit.take()]}
            await send(message)

        return send_with_limits


async def _read_body(receive: Receive, limit: int | None = None) -> tuple[bytes, int]:
    """The body (at most `limit` bytes of it are kept) and its full size."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is None or size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), size


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the already-read body to the app once, then defers to the real one."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _drop(send: Send, receive: Receive) -> None:
    """Close the connection with no response at all, as a dying load balancer would."""
    # uvicorn's send is a bound method of its request cycle, which holds the socket's transport.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("this server does not let the emulator drop a connection")
    transport.abort()
    await _disconnected(receive)  # once uvicorn has seen it, it does not answer with a 500 of its own
