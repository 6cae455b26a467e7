"""imagen_ui.pricing: the bundled, dated price table and the estimates it gives."""

from __future__ import annotations

import pytest

from imagen_ui import pricing
from imagen_ui.schema import bundled_models


def test_every_bundled_model_has_a_price():
    assert all(pricing.known(model) for model in bundled_models())


def test_prices_follow_the_reference_and_the_resolution_where_it_matters():
    assert pricing.image_price("google/imagen-4-fast") == 0.02
    assert pricing.image_price("google/nano-banana-pro", {"resolution": "2K"}) == 0.15
    assert pricing.image_price("google/nano-banana-pro", {"resolution": "4K"}) == 0.30
    assert pricing.image_price("google/imagen-4-fast:0123abcd") == 0.02  # a pinned version is the model


def test_an_unknown_model_costs_the_dearest_image_and_gets_no_estimate():
    assert pricing.image_price("someone/new-model") == pricing.UNKNOWN_MODEL_USD == 0.30
    assert pricing.describe_estimate("someone/new-model", {}, 2) is None


@pytest.mark.parametrize(("usd", "text"), [(0.08, "$0.08"), (0.003, "$0.003"), (12.5, "$12.50"),
                                           (1234.0, "$1,234.00"), (0.0, "$0.00")])
def test_dollars_are_written_as_people_read_them(usd, text):
    assert pricing.format_usd(usd) == text


def test_the_estimate_is_labelled_and_dated():
    assert pricing.describe_estimate("google/imagen-4-fast", {}, 4) == (
        f"about $0.08 for 4 images (estimate, Replicate's prices of {pricing.PRICES_AS_OF})")
    assert pricing.describe_estimate("google/imagen-4-fast", {}, 1).startswith("about $0.02 for 1 image ")
