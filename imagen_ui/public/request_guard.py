"""An ASGI guard in front of every route: request headers of bounded size, and no cookie that makes a
parser slow, before Gradio, Starlette or this app reads anything.

Python's `http.cookies._unquote` (which Starlette's `request.cookies` uses for every quoted value)
takes time quadratic in the number of backslash escapes (CVE-2024-7592, fixed in Python 3.11.10):
one request with a 120 KB cookie of `\\\\` held the interpreter for 46 s. None of this app's cookies
(nor Gradio's) is quoted with escapes, so such cookies are dropped from the header, and headers
larger than any browser sends are refused with 431 before they are parsed at all.

    app = FastAPI(middleware=[Middleware(HeaderGuard)])   # what bootstrap passes to launch()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["MAX_COOKIE_BYTES", "MAX_HEADERS_BYTES", "HeaderGuard", "clean_cookie_header"]

MAX_HEADERS_BYTES = 64 * 1024  # all names and values together (browsers stop near 16-32 KB)
MAX_HEADER_BYTES = 16 * 1024  # one header's value
MAX_COOKIE_BYTES = 16 * 1024  # the Cookie header(s), all together

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class HeaderGuard:
    """ASGI middleware: 431 for oversized headers; cookies with backslash escapes removed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope.get("type") in ("http", "websocket"):
            headers = scope.get("headers") or []
            problem = _oversized(headers)
            if problem is not None:
                await _refuse(scope, send, problem)
                return
            if any(name == b"cookie" and b"\\" in value for name, value in headers):
                scope = dict(scope)
                scope["headers"] = [
                    (name, clean_cookie_header(value) if name == b"cookie" else value) for name, value in headers
                ]
        await self.app(scope, receive, send)


def clean_cookie_header(value: bytes) -> bytes:
    """The Cookie header without the pairs whose value holds a backslash (none of ours does)."""
    return b"; ".join(part.strip() for part in value.split(b";") if b"\\" not in part and part.strip())


def _oversized(headers: list[tuple[bytes, bytes]]) -> str | None:
    total = cookies = 0
    for name, value in headers:
        total += len(name) + len(value)
        if len(value) > MAX_HEADER_BYTES:
            return "a request header is too large"
        if name == b"cookie":
            cookies += len(value)
    if total > MAX_HEADERS_BYTES:
        return "the request headers are too large"
    if cookies > MAX_COOKIE_BYTES:
        return "the cookies are too large; clear this site's cookies and reload"
    return None


async def _refuse(scope: Scope, send, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1009})
        return
    body = message.encode()
    await send({"type": "http.response.start", "status": 431,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
