"""The bundled model schemas: each parses, names itself after its file, and is a model body that the
official client accepts when the emulator serves it; the emulator runs each one."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import replicate
from PIL import Image
from replicate.exceptions import ReplicateError

from imagen_ui.emulator import Emulator
from imagen_ui.schema import bundled_model_json, bundled_models, parse_model

MODELS_DIR = Path(__file__).resolve().parent.parent / "imagen_ui" / "models"
FILES = sorted(MODELS_DIR.glob("*.json"))
pytestmark = pytest.mark.timeout(60)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def inputs_of(model_json: dict[str, Any]) -> dict[str, Any]:
    return model_json["latest_version"]["openapi_schema"]["components"]["schemas"]["Input"]


NEW_MODELS = ("google/nano-banana-pro", "google/nano-banana-2", "bytedance/seedream-4.5",
              "black-forest-labs/flux-2-pro", "black-forest-labs/flux-kontext-pro")


def test_the_expected_models_are_bundled() -> None:
    assert {
        "google/imagen-4-fast", "google/imagen-4-ultra", "google/imagen-4", "black-forest-labs/flux-schnell",
        *NEW_MODELS,
    } <= set(bundled_models())


def test_every_bundled_model_is_offered_by_default_but_flux_schnell() -> None:
    from imagen_ui.settings import DEFAULT_MODEL, DEFAULT_MODELS

    assert DEFAULT_MODEL == "google/imagen-4-fast" == DEFAULT_MODELS[0]
    assert DEFAULT_MODELS[:3] == ("google/imagen-4-fast", "google/imagen-4-ultra", "google/imagen-4")
    assert DEFAULT_MODELS[3:] == NEW_MODELS  # nano-banana-pro first: the successor when Imagen is gone
    assert set(DEFAULT_MODELS) == set(bundled_models()) - {"black-forest-labs/flux-schnell"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_file_parses_and_is_named_after_its_model(path: Path) -> None:
    data = load(path)
    assert path.name == f"{data['owner']}-{data['name']}.json"
    assert data["url"] == f"https://replicate.com/{data['owner']}/{data['name']}"
    schema = parse_model(data)
    assert schema.model == f"{data['owner']}/{data['name']}"
    assert bundled_model_json(schema.model) == data
    assert schema.field("prompt").required and schema.field("prompt").kind == "string"
    assert schema.output.get("type") in ("string", "array")


def test_version_ids_are_unique() -> None:
    # The emulator finds a model by its version id too: two files must not share one.
    ids = [load(path)["latest_version"]["id"] for path in FILES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_official_client_accepts_the_model_as_served(emulator: Emulator, path: Path) -> None:
    data = load(path)
    client = replicate.Client(api_token="x", base_url=emulator.base_url)
    model = client.models.get(f"{data['owner']}/{data['name']}")
    assert (model.owner, model.name, model.description) == (data["owner"], data["name"], data["description"])
    assert model.latest_version is not None
    assert model.latest_version.id == data["latest_version"]["id"]
    assert model.latest_version.openapi_schema == data["latest_version"]["openapi_schema"]


def test_imagen_siblings_share_the_fast_models_inputs() -> None:
    fast = inputs_of(load(MODELS_DIR / "google-imagen-4-fast.json"))
    ultra_json = load(MODELS_DIR / "google-imagen-4-ultra.json")
    assert inputs_of(ultra_json) == fast
    assert ultra_json["description"] == (
        "Use this ultra version of Imagen 4 when quality matters more than speed and cost"
    )
    imagen4 = parse_model(bundled_model_json("google/imagen-4"))
    assert imagen4.names == ("prompt", "aspect_ratio", "image_size", "output_format", "safety_filter_level")
    size = imagen4.field("image_size")
    assert (size.kind, size.choices, size.default) == ("enum", ("1K", "2K"), "1K")
    assert "resolution" in size.description.lower()
    fast_fields = {f.name: f for f in parse_model(bundled_model_json("google/imagen-4-fast")).fields}
    for field in imagen4.fields:
        if field.name != "image_size":
            assert (field.kind, field.choices, field.default) == (
                fast_fields[field.name].kind, fast_fields[field.name].choices, fast_fields[field.name].default
            )


def test_flux_schnell_has_a_different_shape() -> None:
    flux = parse_model(bundled_model_json("black-forest-labs/flux-schnell"))
    assert flux.names == (
        "prompt", "aspect_ratio", "num_outputs", "num_inference_steps", "seed", "output_format",
        "output_quality", "disable_safety_checker", "go_fast", "megapixels",
    )
    described = {f.name: (f.kind, f.default, f.choices, f.minimum, f.maximum, f.required) for f in flux.fields}
    assert described == {
        "prompt": ("string", None, None, None, None, True),
        "aspect_ratio": (
            "enum", "1:1", ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"),
            None, None, False,
        ),
        "num_outputs": ("integer", 1, None, 1, 4, False),
        "num_inference_steps": ("integer", 4, None, 1, 4, False),
        "seed": ("integer", None, None, None, None, False),
        "output_format": ("enum", "webp", ("webp", "jpg", "png"), None, None, False),
        "output_quality": ("integer", 80, None, 0, 100, False),
        "disable_safety_checker": ("boolean", False, None, None, None, False),
        "go_fast": ("boolean", True, None, None, None, False),
        "megapixels": ("enum", "1", ("1", "0.25"), None, None, False),
    }
    assert flux.output == {"type": "array", "items": {"type": "string", "format": "uri"}, "title": "Output"}
    # Cog's way: enums through allOf/$ref, not inline.
    properties = inputs_of(bundled_model_json("black-forest-labs/flux-schnell"))["properties"]
    assert properties["aspect_ratio"]["allOf"] == [{"$ref": "#/components/schemas/aspect_ratio"}]
    # The app's own validation follows the schema: an integer out of range is refused.
    with pytest.raises(ValueError, match="between 1 and 4"):
        flux.validate({"prompt": "p", "num_outputs": 5})


def described(model: str) -> dict[str, tuple]:
    schema = parse_model(bundled_model_json(model))
    return {f.name: (f.kind, f.default, f.choices, f.minimum, f.maximum) for f in schema.fields}


SAFETY_LEVELS = ("block_low_and_above", "block_medium_and_above", "block_only_high")
NANO_RATIOS = ("match_input_image", "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")


def test_nano_banana_pro_has_imagens_four_controls_and_reference_images() -> None:
    schema = parse_model(bundled_model_json("google/nano-banana-pro"))
    assert schema.names == ("prompt", "image_input", "aspect_ratio", "resolution", "output_format",
                            "safety_filter_level", "allow_fallback_model")
    assert described("google/nano-banana-pro") == {
        "prompt": ("string", None, None, None, None),
        "image_input": ("array", [], None, None, None),
        "aspect_ratio": ("enum", "match_input_image", NANO_RATIOS, None, None),
        "resolution": ("enum", "2K", ("1K", "2K", "4K"), None, None),
        "output_format": ("enum", "jpg", ("jpg", "png"), None, None),
        "safety_filter_level": ("enum", "block_only_high", SAFETY_LEVELS, None, None),
        "allow_fallback_model": ("boolean", False, None, None, None),
    }
    images = schema.field("image_input")
    assert (images.item_kind, images.is_image, images.image_limit) == ("uri", True, 14)
    assert images.image_formats == ("png", "jpeg", "webp", "gif")
    assert "seedream" in schema.field("allow_fallback_model").description
    assert schema.output == {"type": "string", "title": "Output", "format": "uri"}
    # The app's own validation: links only, one by one.
    assert schema.validate({"prompt": "p", "image_input": ["https://x.test/a.png", "data:image/png;base64,AA"]})
    with pytest.raises(ValueError, match="must be a link"):
        schema.validate({"prompt": "p", "image_input": ["/etc/passwd"]})


def test_nano_banana_2_grounds_on_search_and_has_no_safety_filter() -> None:
    fields = described("google/nano-banana-2")
    assert list(fields) == ["prompt", "image_input", "aspect_ratio", "resolution", "google_search",
                            "image_search", "output_format"]
    assert fields["aspect_ratio"][1] == "match_input_image" and len(fields["aspect_ratio"][2]) == 15
    assert {"1:8", "8:1", "1:4", "4:1"} <= set(fields["aspect_ratio"][2])
    assert fields["resolution"][:3] == ("enum", "1K", ("1K", "2K", "4K"))
    assert fields["google_search"] == fields["image_search"] == ("boolean", False, None, None, None)
    assert parse_model(bundled_model_json("google/nano-banana-2")).field("image_input").image_limit == 14


def test_seedream_4_5_has_a_list_output_and_sizes_without_1k() -> None:
    schema = parse_model(bundled_model_json("bytedance/seedream-4.5"))
    assert schema.output["type"] == "array" and schema.output["items"] == {"type": "string", "format": "uri"}
    fields = described("bytedance/seedream-4.5")
    assert fields["size"] == ("enum", "2K", ("2K", "4K", "custom"), None, None)
    assert fields["aspect_ratio"][1] == "match_input_image"
    assert fields["width"] == fields["height"] == ("integer", 2048, None, 1024, 4096)
    assert fields["sequential_image_generation"][:3] == ("enum", "disabled", ("disabled", "auto"))
    assert fields["max_images"] == ("integer", 1, None, 1, 15)
    assert schema.field("image_input").image_limit == 14


def test_flux_2_pro_takes_eight_input_images() -> None:
    schema = parse_model(bundled_model_json("black-forest-labs/flux-2-pro"))
    images = schema.field("input_images")
    assert (images.kind, images.item_kind, images.is_image, images.image_limit) == ("array", "uri", True, 8)
    fields = described("black-forest-labs/flux-2-pro")
    assert fields["aspect_ratio"][1] == "1:1" and fields["aspect_ratio"][2][:2] == ("match_input_image", "custom")
    assert fields["resolution"] == ("enum", "1 MP", ("match_input_image", "0.5 MP", "1 MP", "2 MP", "4 MP"), None, None)
    assert fields["width"] == fields["height"] == ("integer", None, None, 256, 2048)
    assert fields["safety_tolerance"] == ("integer", 2, None, 1, 5)
    assert fields["output_format"][1:3] == ("webp", ("webp", "jpg", "png"))
    assert fields["output_quality"] == ("integer", 80, None, 0, 100)
    assert schema.output["type"] == "string"


def test_flux_kontext_pro_takes_one_input_image() -> None:
    schema = parse_model(bundled_model_json("black-forest-labs/flux-kontext-pro"))
    image = schema.field("input_image")
    assert (image.kind, image.is_image, image.image_limit, image.required) == ("uri", True, 1, False)
    fields = described("black-forest-labs/flux-kontext-pro")
    assert fields["aspect_ratio"][1] == "match_input_image"
    assert fields["safety_tolerance"] == ("integer", 2, None, 0, 6)
    assert fields["output_format"][1:3] == ("png", ("jpg", "png"))
    assert fields["prompt_upsampling"] == ("boolean", False, None, None, None)


def test_only_link_inputs_that_say_image_are_image_inputs() -> None:
    sdxl = parse_model(json.loads((Path(__file__).parent / "data" / "sdxl-model.json").read_text()))
    assert sdxl.field("image").is_image  # "Input image for img2img or inpaint mode"
    assert not sdxl.field("mask").is_image  # a link whose description says mask, not image
    assert not any(f.is_image for f in parse_model(bundled_model_json("google/imagen-4-fast")).fields)


# --- the emulator runs every bundled model -----------------------------------------------------------


def test_emulator_runs_flux_schnell_with_a_list_of_webp_files(emulator: Emulator) -> None:
    client = replicate.Client(api_token="x", base_url=emulator.base_url)
    output = client.run("black-forest-labs/flux-schnell", input={"prompt": "cake", "seed": 3, "go_fast": False})
    assert isinstance(output, list) and output
    for url in output:
        response = httpx.get(url)
        assert response.headers["content-type"] == "image/webp"
        assert Image.open(io.BytesIO(response.content)).format == "WEBP"


def test_emulator_validates_against_each_new_schema(emulator: Emulator) -> None:
    client = replicate.Client(api_token="x", base_url=emulator.base_url)
    refused = [
        ("black-forest-labs/flux-schnell", {"prompt": "p", "num_outputs": 5}),
        ("black-forest-labs/flux-schnell", {"prompt": "p", "output_format": "gif"}),
        ("black-forest-labs/flux-schnell", {"prompt": "p", "go_fast": "yes"}),
        ("google/imagen-4", {"prompt": "p", "image_size": "4K"}),
        ("google/imagen-4-ultra", {"prompt": "p", "aspect_ratio": "21:9"}),
    ]
    for model, given in refused:
        with pytest.raises(ReplicateError) as caught:
            client.predictions.create(model=model, input=given)
        assert caught.value.status == 422, (model, given)
    for model in ("google/imagen-4", "google/imagen-4-ultra"):
        url = client.run(model, input={"prompt": "p", "output_format": "png"})
        assert httpx.get(url).content.startswith(b"\x89PNG")


def test_emulator_returns_num_outputs_files(emulator: Emulator) -> None:
    client = replicate.Client(api_token="x", base_url=emulator.base_url)
    output = client.run("black-forest-labs/flux-schnell", input={"prompt": "cake", "num_outputs": 3})
    assert [url.rsplit("/", 1)[1] for url in output] == ["output_0.webp", "output_1.webp", "output_2.webp"]
    files = [httpx.get(url).content for url in output]
    assert len(set(files)) == 3, "each file of a list output is its own image"
    assert all(Image.open(io.BytesIO(data)).format == "WEBP" for data in files)


def test_emulator_sizes_follow_flux_aspect_ratio_and_megapixels(emulator: Emulator) -> None:
    client = replicate.Client(api_token="x", base_url=emulator.base_url)
    for aspect_ratio, megapixels, size in [("21:9", "1", (1536, 640)), ("16:9", "1", (1344, 768)),
                                           ("1:1", "1", (1024, 1024)), ("9:16", "0.25", (384, 672))]:
        (url,) = client.run("black-forest-labs/flux-schnell",
                            input={"prompt": "wide", "aspect_ratio": aspect_ratio, "megapixels": megapixels})
        assert Image.open(io.BytesIO(httpx.get(url).content)).size == size, (aspect_ratio, megapixels)


def test_emulator_doubles_imagen_4_sides_at_2k(emulator: Emulator) -> None:
    client = replicate.Client(api_token="x", base_url=emulator.base_url)
    for image_size, size in [("1K", (1408, 768)), ("2K", (2816, 1536))]:
        url = client.run("google/imagen-4", input={"prompt": "p", "aspect_ratio": "16:9", "image_size": image_size})
        assert Image.open(io.BytesIO(httpx.get(url).content)).size == size, image_size
