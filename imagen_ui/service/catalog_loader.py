"""Fetch every offered model's schema from Replicate at start-up and build the catalog from the answers."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from imagen_ui.catalog import (
    ModelEntry,
    live_entry,
    retired_entry,
    unreachable_entry,
    with_hints,
)
from imagen_ui.replicate import ModelNotFoundError, ReplicateClient, ReplicateError
from imagen_ui.schema import SchemaError

__all__ = ["load_catalog"]

FETCH_TIMEOUT = 10.0


def load_catalog(models: tuple[str, ...], base_url: str, token: str | None) -> dict[str, ModelEntry]:
    """Every model's entry, the schemas fetched concurrently (in a thread of their own: the caller
    may already run an event loop, e.g. a notebook or Playwright)."""

    async def fetch_all() -> list[dict | BaseException]:
        async with ReplicateClient(token, base_url=base_url) as client:
            return await asyncio.gather(
                *(asyncio.wait_for(client.get_model(m), FETCH_TIMEOUT) for m in models),
                return_exceptions=True,
            )

    with ThreadPoolExecutor(1) as pool:
        answers = pool.submit(asyncio.run, fetch_all()).result()
    return with_hints({m: _entry(m, answer) for m, answer in zip(models, answers)})


def _entry(model: str, answer: dict | BaseException) -> ModelEntry:
    if isinstance(answer, dict):
        return live_entry(model, answer)
    if isinstance(answer, ModelNotFoundError):
        return retired_entry(model)
    if isinstance(answer, (ReplicateError, asyncio.TimeoutError, SchemaError)):
        return unreachable_entry(model, type(answer).__name__)
    raise answer
