"""What the MCP tools do, in plain data: describe the offered models and their inputs, generate
images (kept in the history like every click), and search the history.

The page's rules hold because the same service does the work: public mode's quotas, a visitor's own
token paying for their images, per-visitor history. Every refusal is an `AssistantError` whose text
is a person's (or an assistant's) words; nothing here ever puts a token in a result.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imagen_ui.public.budget import BudgetSpent
from imagen_ui.public.quota import QuotaExceeded
from imagen_ui.public.remembered_tokens import TokenForgotten
from imagen_ui.schema import InvalidRequest
from imagen_ui.service.generation import GenerationService, ImageSlot, ShuttingDown, Viewer, Visitor
from imagen_ui.store.history import Entry

MAX_SEARCH_RESULTS = 50
logger = logging.getLogger(__name__)


class AssistantError(Exception):
    """A tool call that cannot be done; `str()` says why and what to do instead."""


@dataclass(frozen=True)
class Made:
    """A generate call's outcome: the stored images (history entries) and each failure's words."""

    model: str
    prompt: str
    entries: tuple[Entry, ...]
    slots: tuple[ImageSlot, ...]

    @property
    def failures(self) -> list[str]:
        return [slot.message or "unknown error" for slot in self.slots if slot.status == "failed"]


def describe_models(service: GenerationService) -> list[dict[str, Any]]:
    """Every offered model: whether it can be used now, what it is, and each input it takes."""
    models = []
    for model, entry in service.catalog.items():
        item: dict[str, Any] = {"model": model, "usable": entry.usable, "default": model == service.default_model}
        if entry.problem:
            item["problem"] = entry.problem
        if entry.schema is not None:
            item["description"] = entry.schema.description
            item["inputs"] = [_describe_input(f) for f in entry.schema.fields]
        models.append(item)
    return models


def _describe_input(f) -> dict[str, Any]:
    described: dict[str, Any] = {"name": f.name, "type": "choice" if f.kind == "enum" else f.kind}
    if f.required:
        described["required"] = True
    if f.description:
        described["description"] = f.description
    if f.choices:
        described["choices"] = list(f.choices)
    for key, value in (("default", f.default), ("minimum", f.minimum), ("maximum", f.maximum),
                       ("max_length", f.max_length)):
        if value is not None:
            described[key] = value
    return described


def parse_inputs(inputs: object) -> dict[str, Any]:
    """The tool's `inputs` argument: a JSON object, or its text (assistants send either)."""
    if inputs is None or inputs == "":
        return {}
    if isinstance(inputs, str):
        try:
            inputs = json.loads(inputs)
        except json.JSONDecodeError:
            raise AssistantError('inputs must be a JSON object such as {"aspect_ratio": "16:9"}.') from None
    if not isinstance(inputs, Mapping):
        raise AssistantError('inputs must be a JSON object such as {"aspect_ratio": "16:9"}.')
    return dict(inputs)


async def generate(service: GenerationService, *, model: str | None, prompt: str, inputs: object,
                   num_images: object, visitor: Visitor) -> Made:
    """Make the images and return what was stored; AssistantError when nothing could be made."""
    model = model or service.default_model
    values = parse_inputs(inputs)
    if "prompt" in values and prompt:
        raise AssistantError("Give the prompt once: as prompt, not inside inputs.")
    values.setdefault("prompt", prompt)
    try:
        clean, count = service.validate(values, num_images, model=model)
    except InvalidRequest as error:
        others = ", ".join(m for m, e in service.catalog.items() if e.usable)
        raise AssistantError(f"{error} (The models offered here: {others}; list_models describes "
                             "their inputs.)") from None
    last = None
    try:
        async for snapshot in service.generate(clean, count, model=model, visitor=visitor):
            last = snapshot
    except (QuotaExceeded, BudgetSpent, TokenForgotten, ShuttingDown) as error:
        raise AssistantError(str(error)) from None
    slots = last.slots if last is not None else ()
    entries = [entry for slot in slots for entry in _stored(service, slot)]
    made = Made(model, clean["prompt"], tuple(entries), tuple(slots))
    if not entries:
        raise AssistantError(made.failures[0] if made.failures else "No image was made.")
    return made


def _stored(service: GenerationService, slot: ImageSlot) -> list[Entry]:
    """A slot's history entries, found by the ids GenerationService stores them under: the
    prediction's id, or "<id>-<n>" for each file of a model with a list output."""
    if not slot.paths or slot.prediction_id is None:
        return []
    ids = [slot.prediction_id] if len(slot.paths) == 1 else [f"{slot.prediction_id}-{n}"
                                                             for n in range(len(slot.paths))]
    return [entry for entry in map(service.history.get_by_prediction, ids) if entry is not None]


def search(service: GenerationService, viewer: Viewer, query: object, limit: object) -> list[Entry]:
    """The viewer's images whose prompt contains `query` (all when blank), newest first."""
    try:
        count = int(limit) if limit not in (None, "") else 10
    except (TypeError, ValueError):
        raise AssistantError(f"limit must be a whole number from 1 to {MAX_SEARCH_RESULTS}.") from None
    count = min(max(1, count), MAX_SEARCH_RESULTS)
    return service.history_page(viewer, query=str(query or ""), per_page=count).entries
