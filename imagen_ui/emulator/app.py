"""The ASGI application: routes inside Starlette, token check and fault layer around it."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from .auth import TokenAuth
from .middleware import EmulatorMiddleware
from .problems import not_found, problem
from .routes import Api
from .state import EmulatorState


async def _not_found(request: Request, exc: Exception) -> Response:
    return not_found()


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    allowed = exc.headers if isinstance(exc, HTTPException) and exc.headers else None
    return problem(405, "Method Not Allowed", f"{request.method} is not allowed here", allowed)


def build_app(state: EmulatorState) -> ASGIApp:
    app = Starlette(
        routes=Api(state).routes(),
        exception_handlers={404: _not_found, 405: _method_not_allowed},
    )
    return EmulatorMiddleware(TokenAuth(app, state.settings.token), state.requests, state.faults, state.closing)
