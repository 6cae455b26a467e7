"""imagen_ui.schema: reading Replicate model schemas and validating requests against them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from imagen_ui.schema import (
    MAX_PROMPT_CHARS,
    UNORDERED,
    InputField,
    InvalidRequest,
    ModelSchema,
    Problem,
    SchemaError,
    bundled_model_json,
    bundled_models,
    choice_label,
    parse_model,
)

DATA = Path(__file__).parent / "data"
IMAGEN = "google/imagen-4-fast"


@pytest.fixture(scope="module")
def imagen() -> ModelSchema:
    return parse_model(bundled_model_json(IMAGEN))


@pytest.fixture(scope="module")
def sdxl_json() -> dict:
    # A trimmed copy of the recorded GET /v1/models/stability-ai/sdxl (shared/reference/recorded).
    return json.loads((DATA / "sdxl-model.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sdxl(sdxl_json) -> ModelSchema:
    return parse_model(sdxl_json)


def problems(schema: ModelSchema, values: dict) -> list[Problem]:
    with pytest.raises(InvalidRequest) as caught:
        schema.validate(values)
    return caught.value.problems


def message(schema: ModelSchema, values: dict) -> str:
    (only,) = problems(schema, values)
    return only.message


# --- parsing the bundled imagen-4-fast schema ---------------------------------------------------


def test_imagen_fields_in_x_order(imagen):
    assert imagen.names == ("prompt", "aspect_ratio", "output_format", "safety_filter_level")
    assert [f.order for f in imagen.fields] == [0, 1, 2, 3]


def test_imagen_identity(imagen):
    assert imagen.model == IMAGEN
    assert imagen.url == "https://replicate.com/google/imagen-4-fast"
    assert imagen.description.startswith("Use this fast version of Imagen 4")
    assert imagen.version_id == "efb61e33cffb69a1725083f675a44793929553f479918d01d6ce6e00efbee0d7"
    assert imagen.output == {"type": "string", "title": "Output", "format": "uri"}


def test_imagen_prompt(imagen):
    prompt = imagen.field("prompt")
    assert (prompt.kind, prompt.required, prompt.default) == ("string", True, None)
    assert prompt.description == "Text prompt for image generation"
    assert prompt.max_length == MAX_PROMPT_CHARS == 2000  # the schema gives none: the documented bound


def test_imagen_enums_resolved_through_allof_ref(imagen):
    expected = {
        "aspect_ratio": (("1:1", "9:16", "16:9", "3:4", "4:3"), "1:1", "Aspect ratio of the generated image"),
        "output_format": (("jpg", "png"), "jpg", "Format of the output image"),
        "safety_filter_level": (
            ("block_low_and_above", "block_medium_and_above", "block_only_high"),
            "block_only_high",
            "block_low_and_above is strictest, block_medium_and_above blocks some prompts, "
            "block_only_high is most permissive but some prompts will still be blocked",
        ),
    }
    for name, (choices, default, description) in expected.items():
        f = imagen.field(name)
        assert (f.kind, f.choices, f.default, f.required) == ("enum", choices, default, False)
        # The referenced enum's own "An enumeration." and title "aspect_ratio" must not leak in.
        assert f.description == description
    assert imagen.field("safety_filter_level").title == "Safety filter level"


def test_imagen_defaults(imagen):
    assert imagen.defaults() == {
        "aspect_ratio": "1:1",
        "output_format": "jpg",
        "safety_filter_level": "block_only_high",
    }


def test_field_lookup_unknown_name_is_key_error(imagen):
    with pytest.raises(KeyError):
        imagen.field("seed")


def test_bundled_models_lists_imagen():
    assert IMAGEN in bundled_models()


@pytest.mark.parametrize("model", ["google/nope", "../../etc/passwd", "google/../imagen-4-fast", "", "google", None])
def test_bundled_model_json_unknown_or_unsafe_is_none(model):
    assert bundled_model_json(model) is None


def test_bundled_model_json_is_a_fresh_copy():
    first = bundled_model_json(IMAGEN)
    first["owner"] = "changed"
    assert bundled_model_json(IMAGEN)["owner"] == "google"


# --- parsing the recorded sdxl schema -----------------------------------------------------------


def test_sdxl_order_follows_x_order_not_json_order(sdxl):
    assert sdxl.names[:4] == ("prompt", "negative_prompt", "image", "mask")
    assert sdxl.names[-1] == "disable_safety_checker"
    assert [f.order for f in sdxl.fields] == list(range(19))


def test_sdxl_numeric_bounds_and_kinds(sdxl):
    steps = sdxl.field("num_inference_steps")
    assert (steps.kind, steps.minimum, steps.maximum, steps.default) == ("integer", 1, 500, 50)
    guidance = sdxl.field("guidance_scale")
    assert (guidance.kind, guidance.minimum, guidance.maximum, guidance.default) == ("number", 1, 50, 7.5)
    seed = sdxl.field("seed")
    assert (seed.kind, seed.minimum, seed.maximum, seed.default) == ("integer", None, None, None)


def test_sdxl_booleans_uris_enums(sdxl):
    assert (sdxl.field("apply_watermark").kind, sdxl.field("apply_watermark").default) == ("boolean", True)
    assert sdxl.field("disable_safety_checker").default is False
    assert sdxl.field("image").kind == "uri"
    scheduler = sdxl.field("scheduler")
    assert scheduler.kind == "enum" and scheduler.default == "K_EULER" and "DDIM" in scheduler.choices
    assert sdxl.output == {"type": "array", "items": {"type": "string", "format": "uri"}, "title": "Output"}


def test_sdxl_nothing_required_and_generated_titles_humanised(sdxl):
    assert not any(f.required for f in sdxl.fields)
    assert sdxl.field("num_inference_steps").title == "Num inference steps"  # Cog wrote "Num Inference Steps"
    assert sdxl.version_id == "39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b"


def test_parse_does_not_mutate_or_share_its_input(sdxl_json):
    before = copy.deepcopy(sdxl_json)
    schema = parse_model(sdxl_json)
    schema.output["items"]["format"] = "changed"
    assert sdxl_json == before


def test_defaults_are_copies():
    schema = parse_model(_model_with_input({"properties": {"tags": {"type": "array", "default": ["a"]}}}))
    schema.defaults()["tags"].append("b")
    assert schema.field("tags").default == ["a"]
    assert schema.validate({"tags": ("x",)}) == {"tags": ["x"]}
    assert message(schema, {"tags": "x"}) == "Tags must be a list."


def _model_with_input(input_schema: dict, **schemas) -> dict:
    return {
        "owner": "acme",
        "name": "toy",
        "latest_version": {"id": "v1", "openapi_schema": {"components": {"schemas": {"Input": input_schema, **schemas}}}},
    }


def test_inline_enum_plain_ref_anyof_null_and_hand_written_title():
    schema = parse_model(
        _model_with_input(
            {
                "type": "object",
                "required": ["style"],
                "properties": {
                    "style": {"type": "string", "enum": ["a", "b"], "title": "Visual style"},
                    "size": {"$ref": "#/components/schemas/size", "default": 2},
                    "strength": {"anyOf": [{"type": "number", "maximum": 1}, {"type": "null"}]},
                    "extra": {"title": "Extra"},
                },
            },
            size={"type": "integer", "enum": [1, 2, 4]},
        )
    )
    assert schema.field("style").choices == ("a", "b") and schema.field("style").required
    assert schema.field("style").title == "Visual style"
    assert (schema.field("size").kind, schema.field("size").choices) == ("enum", (1, 2, 4))
    assert (schema.field("strength").kind, schema.field("strength").maximum) == ("number", 1)
    assert schema.field("extra").kind == "any"
    # No x-order anywhere: all last, by name. No url in the body: Replicate's page.
    assert schema.names == ("extra", "size", "strength", "style")
    assert {f.order for f in schema.fields} == {UNORDERED}
    assert schema.url == "https://replicate.com/acme/toy"


def test_enum_without_own_description_gets_none_from_its_ref():
    schema = parse_model(
        _model_with_input(
            {"properties": {"mode": {"allOf": [{"$ref": "#/components/schemas/mode"}], "default": "a"}}},
            mode={"enum": ["a", "b"], "type": "string", "title": "mode", "description": "An enumeration."},
        )
    )
    assert (schema.field("mode").description, schema.field("mode").title) == ("", "Mode")


def test_schema_max_length_wins_over_prompt_bound():
    schema = parse_model(_model_with_input({"properties": {"prompt": {"type": "string", "maxLength": 10}}}))
    assert schema.field("prompt").max_length == 10
    assert message(schema, {"prompt": "x" * 11}) == "The prompt is 11 characters long; the limit is 10."


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([], "not a JSON object"),
        ({"name": "toy", "latest_version": {}}, "no owner and name"),
        ({"owner": "acme", "name": "toy", "latest_version": None}, "acme/toy has no published version"),
        ({"owner": "acme", "name": "toy", "latest_version": {"openapi_schema": None}}, "has no Input"),
        (_model_with_input({"type": "object"}), "has no properties"),
        (_model_with_input({"properties": {"x": {"$ref": "#/components/schemas/missing"}}}), "does not define"),
        (_model_with_input({"properties": {"x": {"$ref": "https://example.com/s.json"}}}), "not local"),
        (_model_with_input({"properties": {"x": {"$ref": "#/components/schemas/x"}}}, x={"$ref": "#/components/schemas/x"}), "cycle"),
        (_model_with_input({"properties": {"x": "string"}}), "'x'"),
    ],
)
def test_unusable_schema_raises_schema_error(body, needle):
    with pytest.raises(SchemaError, match=needle):
        parse_model(body)


# --- validation ---------------------------------------------------------------------------------


def test_valid_request_is_cleaned(imagen):
    values = {"prompt": "  a red fox \r\n", "aspect_ratio": "16:9", "output_format": "png", "safety_filter_level": "block_low_and_above"}
    assert imagen.validate(values) == {
        "prompt": "a red fox",
        "aspect_ratio": "16:9",
        "output_format": "png",
        "safety_filter_level": "block_low_and_above",
    }


def test_blank_optional_values_are_dropped(imagen):
    values = {"prompt": "fox", "aspect_ratio": None, "output_format": "", "safety_filter_level": "  "}
    assert imagen.validate(values) == {"prompt": "fox"}


@pytest.mark.parametrize("prompt", [None, "", "   \n\t "])
def test_missing_prompt(imagen, prompt):
    assert problems(imagen, {"prompt": prompt}) == [Problem("prompt", "Please enter a prompt.")]
    assert message(imagen, {}) == "Please enter a prompt."


def test_required_field_other_than_prompt_names_itself():
    schema = parse_model(_model_with_input({"required": ["image"], "properties": {"image": {"type": "string", "format": "uri"}}}))
    assert message(schema, {}) == "Image is required."


def test_enum_outside_choices(imagen):
    assert message(imagen, {"prompt": "fox", "aspect_ratio": "2:1"}) == (
        "Aspect ratio must be one of: 1:1, 9:16, 16:9, 3:4, 4:3 (got '2:1')."
    )
    assert message(imagen, {"prompt": "fox", "output_format": "JPG"}) == "Output format must be one of: jpg, png (got 'JPG')."


def test_prompt_too_long(imagen):
    assert imagen.validate({"prompt": "x" * 2000})["prompt"] == "x" * 2000
    assert message(imagen, {"prompt": "x" * 2345}) == "The prompt is 2,345 characters long; the limit is 2,000."


def test_unknown_option(imagen):
    assert problems(imagen, {"prompt": "fox", "seed": 3}) == [
        Problem("seed", "Unknown option 'seed' for google/imagen-4-fast.")
    ]


@pytest.mark.parametrize(
    ("bad", "code"),
    [("a\x00b", "U+0000"), ("bell\x07 fox", "U+0007"), ("esc\x1b[31m", "U+001B"), ("del\x7fx", "U+007F"),
     ("c1\x9bx", "U+009B"), ("cr\rx\x0by", "U+000B")],
)
def test_control_characters_refused(imagen, bad, code):
    assert message(imagen, {"prompt": bad}) == f"Prompt contains an invisible control character ({code}); please remove it."


def test_newline_and_tab_allowed(imagen):
    assert imagen.validate({"prompt": "a fox\n\tin snow"})["prompt"] == "a fox\n\tin snow"


def test_lone_surrogate_refused(imagen):
    assert "broken character (U+D800)" in message(imagen, {"prompt": "fox \ud800"})


@pytest.mark.parametrize("value", [["a fox"], 42, True, {"text": "fox"}])
def test_prompt_of_wrong_type(imagen, value):
    assert message(imagen, {"prompt": value}) == "Prompt must be text."


def test_every_problem_reported_and_joined(imagen):
    with pytest.raises(InvalidRequest) as caught:
        imagen.validate({"prompt": "", "aspect_ratio": "2:1", "output_format": 1, "seed": 1})
    error = caught.value
    assert [p.field for p in error.problems] == ["prompt", "aspect_ratio", "output_format", "seed"]
    assert str(error) == " ".join(p.message for p in error.problems)
    assert str(error).startswith("Please enter a prompt. Aspect ratio must be one of:")
    assert isinstance(error, ValueError)


def test_invalid_request_single():
    error = InvalidRequest.single("num_images", "Number of images must be a whole number from 1 to 4.")
    assert error.problems == [Problem("num_images", "Number of images must be a whole number from 1 to 4.")]
    assert str(error) == "Number of images must be a whole number from 1 to 4."


def test_validate_does_not_mutate_its_input(imagen, sdxl):
    values = {"prompt": "  fox \r\n", "aspect_ratio": "", "output_format": "png"}
    before = copy.deepcopy(values)
    imagen.validate(values)
    assert values == before
    lists = {"prompt": "fox", "negative_prompt": None, "num_inference_steps": "7"}
    before = copy.deepcopy(lists)
    sdxl.validate(lists)
    assert lists == before


@pytest.mark.parametrize(
    ("raw", "sent"),
    [(7, 7), ("7", 7), (" 7 ", 7), ("7.0", 7), (7.0, 7), ("1e2", 100), (500, 500), (1, 1)],
)
def test_integer_accepted_when_exact(sdxl, raw, sent):
    clean = sdxl.validate({"num_inference_steps": raw})
    assert clean == {"num_inference_steps": sent} and type(clean["num_inference_steps"]) is int


@pytest.mark.parametrize("raw", ["7.5", 7.5, True, "seven", [7], 0, 501, "0", float("nan"), float("inf"), "1e999999999"])
def test_integer_refused(sdxl, raw):
    assert message(sdxl, {"num_inference_steps": raw}) == "Num inference steps must be a whole number between 1 and 500."


def test_integer_without_bounds(sdxl):
    assert sdxl.validate({"seed": "-3"}) == {"seed": -3}
    assert message(sdxl, {"seed": "3.5"}) == "Seed must be a whole number."


@pytest.mark.parametrize(("raw", "sent"), [(7.5, 7.5), ("7.5", 7.5), (3, 3), ("50", 50.0), (1, 1)])
def test_number_accepted(sdxl, raw, sent):
    assert sdxl.validate({"guidance_scale": raw}) == {"guidance_scale": sent}


@pytest.mark.parametrize("raw", [0.5, 50.01, "lots", False, float("nan"), float("-inf"), "inf", [1]])
def test_number_refused(sdxl, raw):
    assert message(sdxl, {"guidance_scale": raw}) == "Guidance scale must be a number between 1 and 50."


def test_one_sided_bounds():
    schema = parse_model(
        _model_with_input({"properties": {"a": {"type": "integer", "minimum": 0}, "b": {"type": "number", "maximum": 2.5}}})
    )
    assert message(schema, {"a": -1}) == "A must be a whole number of at least 0."
    assert message(schema, {"b": 3}) == "B must be a number of at most 2.5."


@pytest.mark.parametrize("raw", [True, False])
def test_boolean_accepted(sdxl, raw):
    assert sdxl.validate({"apply_watermark": raw}) == {"apply_watermark": raw}


@pytest.mark.parametrize("raw", ["true", "false", 1, 0, "yes"])
def test_boolean_must_be_a_real_bool(sdxl, raw):
    assert message(sdxl, {"apply_watermark": raw}) == "Apply watermark must be true or false."


def test_uri(sdxl):
    assert sdxl.validate({"image": " https://example.com/a.png "}) == {"image": "https://example.com/a.png"}
    assert sdxl.validate({"image": "data:image/png;base64,AAAA"}) == {"image": "data:image/png;base64,AAAA"}
    for bad in ("ftp://example.com/a.png", "https://", "/etc/passwd"):
        assert message(sdxl, {"image": bad}) == "Image must be a link starting with http:// or https:// (or a data: URI)."


def test_numeric_enum_accepts_exact_strings_but_not_bools():
    schema = parse_model(_model_with_input({"properties": {"n": {"type": "integer", "enum": [1, 2, 4]}}}))
    assert schema.validate({"n": "4"}) == {"n": 4}
    assert schema.validate({"n": 2.0}) == {"n": 2}
    assert message(schema, {"n": True}) == "N must be one of: 1, 2, 4 (got True)."
    assert message(schema, {"n": "3"}) == "N must be one of: 1, 2, 4 (got '3')."


def test_string_enum_does_not_coerce():
    schema = parse_model(_model_with_input({"properties": {"n": {"type": "string", "enum": ["1", "2"]}}}))
    assert message(schema, {"n": 1}) == "N must be one of: 1, 2 (got 1)."


def test_long_bad_value_is_shortened_in_message(imagen):
    text = message(imagen, {"prompt": "fox", "aspect_ratio": "9" * 500})
    assert len(text) < 120 and text.endswith("…).")


def test_label_falls_back_to_humanised_name():
    assert InputField("safety_filter_level", "enum").label == "Safety filter level"
    assert InputField("x", "string", title="Custom").label == "Custom"


# --- choice labels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "label"),
    [
        ("aspect_ratio", "16:9", "16:9 landscape"),
        ("aspect_ratio", "9:16", "9:16 portrait"),
        ("aspect_ratio", "1:1", "1:1 square"),
        ("aspect_ratio", "3:4", "3:4 portrait"),
        ("aspect_ratio", "4:3", "4:3 landscape"),
        ("aspect_ratio", "21:9", "21:9 landscape"),
        ("aspect_ratio", "match_input_image", "Same as the input image"),
        ("safety_filter_level", "block_low_and_above", "Strictest (block low and above)"),
        ("safety_filter_level", "block_medium_and_above", "Balanced (block medium and above)"),
        ("safety_filter_level", "block_only_high", "Most permissive (block only high)"),
        ("output_format", "jpg", "JPEG"),
        ("output_format", "png", "PNG"),
        ("scheduler", "K_EULER", "K_EULER"),
        ("num_outputs", 4, "4"),
    ],
)
def test_choice_label(name, value, label):
    assert choice_label(name, value) == label


def test_every_imagen_choice_has_a_readable_label(imagen):
    for f in imagen.fields:
        for value in f.choices or ():
            assert choice_label(f.name, value) != value, (f.name, value)
