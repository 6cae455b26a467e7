"""image_count: a click's count and seeds as predictions (pure; the end-to-end runs are in test_models)."""

from __future__ import annotations

import random

from imagen_ui.schema import bundled_model_json, parse_model
from imagen_ui.service.image_count import Planned, count_input, plan_images

FLUX = parse_model(bundled_model_json("black-forest-labs/flux-schnell"))
IMAGEN = parse_model(bundled_model_json("google/imagen-4-fast"))


def seeded_model_without_a_count_input():
    body = bundled_model_json("black-forest-labs/flux-schnell")
    del body["latest_version"]["openapi_schema"]["components"]["schemas"]["Input"]["properties"]["num_outputs"]
    return parse_model(body)


def test_a_model_with_its_own_count_input_makes_the_click_in_one_prediction():
    assert count_input(FLUX) == "num_outputs" and count_input(IMAGEN) is None
    [planned] = plan_images(FLUX, {"prompt": "x"}, 3, random.Random(1))
    assert planned.outputs == 3 and planned.inputs["num_outputs"] == 3
    assert isinstance(planned.inputs["seed"], int)


def test_a_model_without_a_seed_gets_one_plain_prediction_per_image():
    assert plan_images(IMAGEN, {"prompt": "x"}, 2) == [Planned({"prompt": "x"}), Planned({"prompt": "x"})]


def test_seeds_differ_per_image_random_or_counted_up_from_the_one_given():
    schema = seeded_model_without_a_count_input()
    random_seeds = [p.inputs["seed"] for p in plan_images(schema, {"prompt": "x"}, 4, random.Random(7))]
    assert len(set(random_seeds)) == 4
    given = [p.inputs["seed"] for p in plan_images(schema, {"prompt": "x", "seed": 41}, 3)]
    assert given == [41, 42, 43]
    # Past the top of the range it wraps to the bottom instead of sending a value the model refuses.
    top = [p.inputs["seed"] for p in plan_images(schema, {"prompt": "x", "seed": 2**31 - 1}, 2)]
    assert top == [2**31 - 1, 0]
