"""One emulator's settings and the parts that share them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .catalog import Catalog
from .engine import Engine
from .faults import FaultPlan
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
    small_images: bool = False  # flat placeholders of tens of KB instead of photo-sized files


class EmulatorState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = ""  # known once the socket is bound
        self.catalog = Catalog()
        self.store = Store(settings.retention, settings.seed)
        self.renderer = Renderer(small_images=settings.small_images)
        self.webhook_secret = make_secret(settings.seed)
        self.webhooks = WebhookSender(self.webhook_secret)
        self.engine = Engine(self.store, self.renderer, self.webhooks, lambda: settings.latency)
        self.faults = FaultPlan(settings.fail_rate, settings.seed)
        self.requests = RequestLog()
        self.closing = asyncio.Event()

    async def aclose(self) -> None:
        """On the loop, at shutdown: stop predictions (waking waiting requests) and deliveries."""
        self.closing.set()
        await self.engine.aclose()
        await self.webhooks.aclose()

    def close(self) -> None:
        """Off the loop, after it stopped."""
        self.renderer.close()
