"""Webhook deliveries signed per Standard Webhooks, as Replicate sends them.

Signature: ``v1,<base64 HMAC-SHA256 of f"{id}.{timestamp}.{body}">`` keyed by the base64-decoded
part of the ``whsec_`` secret after the underscore. Deliveries run as background tasks; only the
terminal ("completed") event is retried, as Replicate does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time

import httpx

log = logging.getLogger(__name__)

RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)  # Replicate retries for about a minute; tests need seconds


def make_secret(seed: int | None = None) -> str:
    """``whsec_`` + base64 of 24 bytes: random, or derived from the seed so runs are repeatable."""
    if seed is None:
        raw = secrets.token_bytes(24)
    else:
        raw = hashlib.sha256(f"imagen-ui emulator webhook secret {seed}".encode()).digest()[:24]
    return "whsec_" + base64.b64encode(raw).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.split("_", 1)[1])
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookSender:
    """Fire-and-forget deliveries from the event loop; never blocks the request that caused them."""

    def __init__(self, secret: str, retry_delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self.secret = secret
        self.retry_delays = retry_delays
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Deliveries still being attempted (retries included)."""
        return len(self._tasks)

    def send(self, url: str, body: bytes, *, retry: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(url, body, retry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: bytes, retry: bool) -> None:
        if self._client is None:
            # trust_env=False: a proxy from the environment must never see loopback deliveries.
            self._client = httpx.AsyncClient(timeout=5.0, trust_env=False)
        msg_id = "msg_" + secrets.token_urlsafe(18)  # the same id on every attempt, per the spec
        delays = self.retry_delays if retry else ()
        for attempt in range(len(delays) + 1):
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "user-agent": "Replicate-Webhook/1.0 (imagen-ui emulator)",
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(self.secret, msg_id, timestamp, body),
            }
            try:
                response = await self._client.post(url, content=body, headers=headers)
                if response.is_success:
                    return
                log.info("webhook %s answered %s", url, response.status_code)
            except httpx.HTTPError as exc:
                log.info("webhook %s failed: %s", url, exc)
            if attempt < len(delays):
                await asyncio.sleep(delays[attempt])

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
