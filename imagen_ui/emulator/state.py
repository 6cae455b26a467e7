"""One emulator's settings and the parts that share them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .catalog import Catalog
from .engine import Engine
from .faults import FaultPlan
from .files import DEFAULT_LIFETIME, FileStore
from .inputs import InputFetcher
from .recorder import RequestLog
from .renderer import Renderer
from .store import Store
from .webhooks import WebhookSender, make_secret


@dataclass
class Settings:
    latency: float = 0.2
    fail_rate: float = 0.0
    seed: int | None = None
    token: str | None = None
    retention: float = 3600.0
    retired: tuple[str, ...] = ()  # "owner/name" of models that answer 404 everywhere
    file_lifetime: float = DEFAULT_LIFETIME  # seconds an uploaded file lives (expires_at)
    # Share of sync creates answered "processing" with the output already in, as Replicate does.
    early_answers: float = 0.5
    small_images: bool = False  # flat placeholders of tens of KB instead of photo-sized files


class EmulatorState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = ""  # known once the socket is bound
        self.catalog = Catalog(retired=settings.retired)
        self.store = Store(settings.retention, settings.seed)
        self.renderer = Renderer(small_images=settings.small_images)
        self.webhook_secret = make_secret(settings.seed)
        self.webhooks = WebhookSender(self.webhook_secret)
        self.engine = Engine(self.store, self.renderer, self.webhooks, lambda: settings.latency)
        self.faults = FaultPlan(settings.fail_rate, settings.seed)
        self.requests = RequestLog()
        self.closing = asyncio.Event()
        self.files = FileStore(settings.file_lifetime)
        self.inputs = InputFetcher(self.files, self._own_output, lambda: self.base_url)

    async def _own_output(self, url: str) -> bytes | None:
        """The bytes of one of our output files, `{base}/files/{id}/{name}`, while it is served."""
        pid, _, name = url[len(f"{self.base_url}/files/"):].partition("/")
        spec = self.store.file(pid, name)
        return None if spec is None else (await self.renderer.render(spec)).data

    async def aclose(self) -> None:
        """On the loop, at shutdown: stop predictions (waking waiting requests) and deliveries."""
        self.closing.set()
        await self.engine.aclose()
        await self.webhooks.aclose()
        await self.inputs.aclose()

    def close(self) -> None:
        """Off the loop, after it stopped."""
        self.renderer.close()
