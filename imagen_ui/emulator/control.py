"""The in-process control API tests and offline mode use: ``Emulator``."""

from __future__ import annotations

import atexit
import threading
from typing import Any

import uvicorn

from .app import build_app
from .faults import FaultKind
from .recorder import RecordedRequest
from .server import LoopbackServer, base_url_of, bind_socket
from .state import EmulatorState, Settings

_START_TIMEOUT = 10.0


class Emulator:
    """A Replicate-compatible server on loopback, run by uvicorn in a daemon thread.

    >>> with Emulator(latency=0.1) as emu:
    ...     client = replicate.Client(api_token="x", base_url=emu.base_url)
    """

    def __init__(self, latency: float = 0.2, fail_rate: float = 0.0, seed: int | None = None,
                 token: str | None = None, retention: float = 3600.0, host: str = "127.0.0.1",
                 port: int = 0, *, small_images: bool = False) -> None:
        """`small_images`: flat placeholders of tens of KB instead of photo-sized files (for tests
        that do not care about bytes; the default is what Replicate serves)."""
        if latency < 0 or retention < 0:
            raise ValueError("latency and retention must not be negative")
        self._state = EmulatorState(Settings(float(latency), float(fail_rate), seed, token, float(retention),
                                             small_images=small_images))
        self._host, self._port = host, port
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._stopped = False
        self._base_url = ""

    # Life cycle -----------------------------------------------------------------------------

    def start(self) -> "Emulator":
        """Bind, serve in a daemon thread, and return once connections are accepted."""
        if self._thread is not None or self._stopped:
            raise RuntimeError("an Emulator can be started once")
        sock = bind_socket(self._host, self._port)
        self._base_url = self._state.base_url = base_url_of(sock)
        config = uvicorn.Config(
            build_app(self._state), lifespan="off", log_config=None, access_log=False,
            http="h11", ws="none", loop="asyncio", proxy_headers=False, timeout_keep_alive=30,
        )
        self._server = LoopbackServer(config, on_shutdown=self._state.aclose)
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="replicate-emulator", daemon=True)
        self._thread.start()
        atexit.register(self.stop)  # never outlive the interpreter, even if the owner forgets
        if not self._server.ready.wait(_START_TIMEOUT) or self._error is not None:
            self.stop()
            raise RuntimeError(f"the emulator did not start: {self._error!r}")
        return self

    def _serve(self, sock: Any) -> None:
        assert self._server is not None
        try:
            self._server.run(sockets=[sock])
        except BaseException as exc:  # reported by start(); a daemon thread has nobody else to tell
            self._error = exc
        finally:
            self._server.ready.set()
            sock.close()

    def stop(self) -> None:
        """Stop serving, end running predictions, join the thread. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if self._server is not None:
            self._server.request_exit()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._state.close()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Inspection and control ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: no trailing slash, no ``/v1``."""
        if not self._base_url:
            raise RuntimeError("the emulator is not started")
        return self._base_url

    @property
    def webhook_secret(self) -> str:
        return self._state.webhook_secret

    @property
    def webhooks_pending(self) -> int:
        """Webhook deliveries not finished yet: sending, or waiting to retry."""
        return self._state.webhooks.pending

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._state.requests.snapshot()

    def count(self, method: str | None, path_prefix: str = "") -> int:
        return self._state.requests.count(method, path_prefix)

    def predictions(self) -> list[dict[str, Any]]:
        return self._state.store.snapshot()

    def prediction(self, prediction_id: str) -> dict[str, Any]:
        prediction = self._state.store.get(prediction_id)
        if prediction is None:
            raise KeyError(prediction_id)
        return self._state.store.render(prediction)

    def set_latency(self, seconds: float) -> None:
        """The run time of predictions created from now on."""
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self._state.settings.latency = float(seconds)

    def inject_fault(self, method: str, path_prefix: str, kind: FaultKind, *, times: int = 1,
                     retry_after: int = 1, delay: float = 0.0) -> None:
        """Fail the next `times` requests matching method (or "*") and path prefix with `kind`.

        Kinds: 429 / 500 / 502 / 503 (problem JSON, nothing created); "drop" (no response, nothing
        created); "stall" (create, then hold the answer `delay` s); "drop_after_create" (create,
        then close without an answer); "e005" (a create whose prediction fails with E005).
        """
        self._state.faults.inject(method, path_prefix, kind, times=times, retry_after=retry_after, delay=delay)
