"""How a click's "Images" count and seed become predictions, one control per model.

A model with a count input of its own (flux's num_outputs, seedream's max_images, gpt-image's
number_of_images) makes all of a click's images in ONE prediction: the count goes into that input,
and the form shows no second count control (two would multiply). Any other model gets one
prediction per image.

A model with a `seed` input never gets the same seed twice in one click: left empty, each prediction
gets a fresh random seed (sent, so the seed an image was made with is known and kept); given a seed
S, prediction i gets S + i, the way AUTOMATIC1111 numbers a batch, so the click is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from imagen_ui.schema import ModelSchema

__all__ = ["COUNT_INPUTS", "SEED_INPUT", "Planned", "count_input", "plan_images"]

COUNT_INPUTS = ("num_outputs", "max_images", "number_of_images")
SEED_INPUT = "seed"
_SEED_RANGE = (0, 2**31 - 1)  # what every bundled model accepts when its schema gives no bounds
_random = random.SystemRandom()


@dataclass(frozen=True)
class Planned:
    """One prediction to create: its inputs, and how many of the click's images it makes."""

    inputs: Mapping[str, object]
    outputs: int = 1


def count_input(schema: ModelSchema) -> str | None:
    """The name of the model's own image-count input, if it has one."""
    return next((name for name in COUNT_INPUTS if name in schema.names), None)


def plan_images(schema: ModelSchema, inputs: Mapping[str, object], count: int,
                rng: random.Random = _random) -> list[Planned]:
    """The predictions that make `count` images of validated `inputs`."""
    own = count_input(schema)
    predictions = 1 if own is not None else count
    planned = [dict(inputs) for _ in range(predictions)]
    if SEED_INPUT in schema.names:
        low, high = _seed_range(schema)
        given = inputs.get(SEED_INPUT)
        for i, one in enumerate(planned):
            one[SEED_INPUT] = (low + (given - low + i) % (high - low + 1) if isinstance(given, int)
                               else rng.randint(low, high))
    if own is not None:
        return [Planned({**planned[0], own: count}, outputs=count)]
    return [Planned(one) for one in planned]


def _seed_range(schema: ModelSchema) -> tuple[int, int]:
    field = schema.field(SEED_INPUT)
    low = int(field.minimum) if field.minimum is not None else _SEED_RANGE[0]
    high = int(field.maximum) if field.maximum is not None else _SEED_RANGE[1]
    return low, max(low, high)
