"""uvicorn on a pre-bound loopback socket, stoppable from another thread within milliseconds.

Stock ``uvicorn.Server`` polls for exit every 0.1 s and sleeps another 0.1 s on shutdown; tests
start and stop hundreds of emulators, so this one waits on an event and drains connections fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Awaitable, Callable, Iterator

import uvicorn

_DRAIN_SECONDS = 1.0  # how long stop() lets in-flight requests finish before cancelling them


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # lets asyncio set TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections queue from here on, before the loop even runs
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def base_url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class LoopbackServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self._on_shutdown = on_shutdown
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit: asyncio.Event | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the owner of the process handles signals, not a server in a helper thread

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit = asyncio.Event()
        await super().startup(sockets=sockets)
        self.ready.set()

    async def main_loop(self) -> None:
        assert self._exit is not None
        while not self._exit.is_set() and not self.should_exit:
            await self.on_tick(0)  # refreshes the Date header
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)

    def request_exit(self) -> None:
        """Thread-safe: make serve() return soon."""
        self.should_exit = True
        loop, event = self._loop, self._exit
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(event.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        await self._on_shutdown()  # ends predictions, so requests waiting on them answer now
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()  # closes idle keep-alive connections, the rest after answering
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _DRAIN_SECONDS
        while (state.connections or state.tasks) and loop.time() < deadline:
            await asyncio.sleep(0.005)
        for task in list(state.tasks):
            task.cancel()
        for connection in list(state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        await self.lifespan.shutdown()
