"""Bearer-token check for ``/v1``: as Replicate does, a request without an ``Authorization`` header
(or with an empty token) is a 401; with a configured token every other token is a 401 too."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from .problems import unauthenticated


class TokenAuth:
    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/") and not self._authorized(scope):
            await unauthenticated()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        header = next((v for k, v in scope["headers"] if k.lower() == b"authorization"), b"")
        scheme, _, value = header.decode("latin-1").partition(" ")
        # Replicate takes "Bearer <token>" and the older "Token <token>".
        if scheme.lower() not in ("bearer", "token") or not value.strip():
            return False
        return self.token is None or hmac.compare_digest(value.strip().encode(), self.token.encode())
