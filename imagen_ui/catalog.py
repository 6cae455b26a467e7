"""The models the app offers: each one's schema, live from Replicate when it answers, else bundled.

A model Replicate says is gone (404) is kept in the catalog with a problem in a person's words, so
the page can say so once, with the other models to try, instead of failing on every click.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from imagen_ui.replicate_client import ModelNotFoundError, ReplicateClient, ReplicateError
from imagen_ui.schema import ModelSchema, SchemaError, bundled_model_json, parse_model

logger = logging.getLogger(__name__)

FETCH_TIMEOUT = 10.0


@dataclass(frozen=True)
class ModelEntry:
    model: str
    schema: ModelSchema | None  # None: no schema at all (gone and nothing bundled)
    source: str  # "live", "bundled" or "none"
    problem: str | None = None  # why it cannot be used, in a person's words

    @property
    def usable(self) -> bool:
        return self.schema is not None and self.problem is None


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
    entries = {m: _entry(m, answer) for m, answer in zip(models, answers)}
    for entry in entries.values():
        if entry.problem:
            others = [m for m, e in entries.items() if e.usable]
            hint = f" Try {', '.join(others)}." if others else ""
            entries[entry.model] = ModelEntry(entry.model, entry.schema, entry.source, entry.problem + hint)
    return entries


def _entry(model: str, answer: dict | BaseException) -> ModelEntry:
    if isinstance(answer, dict):
        try:
            return ModelEntry(model, parse_model(answer), "live")
        except SchemaError as error:
            logger.warning("The live schema of %s is unusable (%s); trying the bundled one", model, error)
    elif isinstance(answer, ModelNotFoundError):
        bundled = bundled_model_json(model)
        return ModelEntry(
            model, parse_model(bundled) if bundled else None, "bundled" if bundled else "none",
            f"Replicate has no model {model} any more (it may have been withdrawn: Google retired its "
            "Imagen 4 endpoints in 2026).",
        )
    elif not isinstance(answer, (ReplicateError, asyncio.TimeoutError, SchemaError)):
        raise answer
    bundled = bundled_model_json(model)
    if bundled is None:
        return ModelEntry(model, None, "none",
                          f"Could not read {model}'s inputs from Replicate, and no copy is bundled.")
    logger.warning("Using the bundled schema of %s (live schema unavailable: %s)", model,
                   type(answer).__name__)
    return ModelEntry(model, parse_model(bundled), "bundled")
