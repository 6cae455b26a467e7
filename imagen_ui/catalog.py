"""The models the app offers and their state: each one's schema (live or bundled) and whether it can
be used, with the reason in a person's words when it cannot.

Pure: what Replicate answered is handed in (`live_entry`, `retired_entry`, `unreachable_entry`);
fetching it is the service's job (`imagen_ui.service.catalog_loader`). A model Replicate says is
gone (404) stays in the catalog with its problem, so the page can say so once, with the other models
to try, instead of failing on every click.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

from imagen_ui.schema import ModelSchema, SchemaError, bundled_model_json, parse_model

__all__ = ["ModelEntry", "live_entry", "means_retired", "retired_entry", "unreachable_entry", "with_hints"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelEntry:
    model: str
    schema: ModelSchema | None  # None: no schema at all (gone and nothing bundled)
    source: str  # "live", "bundled" or "none"
    problem: str | None = None  # why it cannot be used, in a person's words
    retired: bool = False  # Replicate says the model is gone (404), not just unreachable

    @property
    def usable(self) -> bool:
        return self.schema is not None and self.problem is None


def live_entry(model: str, body: dict) -> ModelEntry:
    """Replicate answered with the model's body; an unusable schema falls back to the bundled one."""
    try:
        return ModelEntry(model, parse_model(body), "live")
    except SchemaError as error:
        logger.warning("The live schema of %s is unusable (%s); trying the bundled one", model, error)
        return unreachable_entry(model, "unusable live schema")


def retired_entry(model: str, others: list[str] | None = None) -> ModelEntry:
    """Replicate says the model does not exist (404): shown as gone, its bundled form kept for history.
    `others` (the models that do work) are named as what to try instead."""
    bundled = bundled_model_json(model)
    hint = f" Try {', '.join(others)}." if others else ""
    return ModelEntry(
        model, parse_model(bundled) if bundled else None, "bundled" if bundled else "none",
        f"Replicate has no model {model} any more (it may have been withdrawn: Google retired its "
        f"Imagen 4 endpoints in 2026).{hint}",
        retired=True,
    )


# A model's own error when it is gone: Google's "models/imagen-4.0-… is not found for API version",
# Replicate's "model … not found" / "no longer available". Not "UNAVAILABLE"/"overloaded" (capacity,
# it passes) and not an input link's "404 … for url:" (the model is fine, the link is not).
_RETIRED_WORDS = re.compile(
    r"\b(?:models?|endpoints?)\b[^\n]{0,100}?\b(?:is not found|not found|does not exist"
    r"|no longer (?:available|supported|exists?)|(?:has been|was) (?:retired|shut ?down|discontinued|deprecated"
    r"|removed|withdrawn))\b|\bNOT_FOUND\b",
    re.IGNORECASE,
)


def means_retired(error_text: object) -> bool:
    """Whether a failed prediction's error says the model itself is gone."""
    text = str(error_text or "")
    return "for url:" not in text and bool(_RETIRED_WORDS.search(text))


def unreachable_entry(model: str, why: str) -> ModelEntry:
    """Replicate could not be asked (network, timeout, server error): the bundled schema, if any."""
    bundled = bundled_model_json(model)
    if bundled is None:
        return ModelEntry(model, None, "none",
                          f"Could not read {model}'s inputs from Replicate, and no copy is bundled.")
    logger.warning("Using the bundled schema of %s (live schema unavailable: %s)", model, why)
    return ModelEntry(model, parse_model(bundled), "bundled")


def with_hints(entries: dict[str, ModelEntry]) -> dict[str, ModelEntry]:
    """Each problem followed by the models that do work, so the person knows what to try instead."""
    usable = [m for m, e in entries.items() if e.usable]
    hint = f" Try {', '.join(usable)}." if usable else ""
    return {m: replace(e, problem=e.problem + hint) if e.problem else e for m, e in entries.items()}
