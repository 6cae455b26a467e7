"""A model's inputs, read from its Replicate OpenAPI schema, and validation of a request against them.

`parse_model` turns the body of `GET /v1/models/{owner}/{name}` (live, or the bundled copy in
`models/`) into a `ModelSchema`; `ModelSchema.validate` turns what a person typed into the exact
`input` to send, or raises `InvalidRequest` with messages that person understands.

Pure module: no network, no Gradio.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Imagen accepts prompts up to 480 tokens (~4 characters a token); a schema maxLength wins when present.
MAX_PROMPT_CHARS = 2000

# "owner/name" as Replicate spells model ids; the first character excludes "." so no path can climb.
MODEL_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*")

UNORDERED = sys.maxsize  # `order` of a field without x-order: after every ordered field
IMAGE_FORMATS = ("png", "jpeg", "webp", "gif")  # what image inputs accept unless the schema says less
DEFAULT_IMAGE_LIMIT = 4  # images a list input takes when its schema states no limit
_IMAGE_WORDS = re.compile(r"\b(?:images?|photos?|pictures?)\b|image_|_image", re.I)
_LIMIT_PATTERNS = (
    re.compile(r"\bup to (\d+)", re.I),
    re.compile(r"\b(?:maximum|max\.?|at most)(?: of)? (\d+)", re.I),
    re.compile(r"\b\d+\s*(?:-|–|to)\s*(\d+) (?:\w+ )?images?\b", re.I),
)
_FORMATS_SAID = re.compile(r"\bmust be ([\w ,]+(?:or|and) \w+)", re.I)
_MODELS_DIR = Path(__file__).parent / "models"
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # Unicode Cc, less newline and tab
_LONE_SURROGATES = re.compile(r"[\ud800-\udfff]")  # cannot be encoded as UTF-8 JSON
_MAX_EXPONENT = 30  # numeric strings beyond 10**30 are refused: int("1e999999999") would hang


class SchemaError(ValueError):
    """The model JSON has no usable `Input` schema."""


@dataclass(frozen=True)
class Problem:
    """One reason a request was refused: the input it concerns (None if none) and a person's words."""

    field: str | None
    message: str


class InvalidRequest(ValueError):
    """A request a model would refuse. `problems` lists every reason; `str()` joins their messages."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(" ".join(problem.message for problem in self.problems))

    @classmethod
    def single(cls, field_name: str | None, message: str) -> InvalidRequest:
        """An InvalidRequest with one problem."""
        return cls([Problem(field_name, message)])


@dataclass(frozen=True)
class InputField:
    """One input of a model, as its schema describes it.

    `kind` is the JSON type ("string", "integer", "number", "boolean", "array", "object"), or
    "enum" when the schema lists `choices`, "uri" for a string of format uri, "any" when untyped.
    `item_kind` is the kind of an array's items ("uri" for a list of links), else None.
    `title` is what a person reads: the schema's own title when hand-written, else the name humanised.
    `order` is the schema's x-order, UNORDERED when it has none. `max_items` is an array's maxItems.
    """

    name: str
    kind: str
    title: str = ""
    description: str = ""
    default: Any = field(default=None, hash=False)
    choices: tuple[Any, ...] | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    max_length: int | None = None
    required: bool = False
    order: int = UNORDERED
    item_kind: str | None = None
    max_items: int | None = None

    @property
    def label(self) -> str:
        """The name messages use for this input."""
        return self.title or humanize(self.name)

    @property
    def is_image(self) -> bool:
        """An input that takes images: a link (or a list of links) whose name or description says image.
        Other links (a webhook, a LoRA's weights) are not."""
        takes_links = self.kind == "uri" or (self.kind == "array" and self.item_kind == "uri")
        return takes_links and bool(_IMAGE_WORDS.search(f"{self.name} {self.description}"))

    @property
    def image_limit(self) -> int:
        """How many images the input takes: one for a single link; for a list, the schema's maxItems,
        else the limit its description states ("up to 14 images", "Maximum 8 images", "1-14 images")."""
        if self.kind != "array":
            return 1
        if self.max_items is not None:
            return self.max_items
        for pattern in _LIMIT_PATTERNS:
            if found := pattern.search(self.description):
                return int(found[1])
        return DEFAULT_IMAGE_LIMIT

    @property
    def image_formats(self) -> tuple[str, ...]:
        """The image formats the input accepts ("png", "jpeg", "webp", "gif"): the ones its description
        names after "must be", else those four."""
        found = _FORMATS_SAID.search(self.description)
        named = tuple(f for f in IMAGE_FORMATS if found and re.search(rf"\b{f}\b", found[1], re.I)) if found else ()
        return named or IMAGE_FORMATS


@dataclass(frozen=True)
class ModelSchema:
    """A model's identity and inputs. `fields` are sorted by x-order, then name; `output` is its
    Output schema (read it, do not change it)."""

    model: str
    description: str
    url: str
    version_id: str | None
    fields: tuple[InputField, ...]
    output: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def field(self, name: str) -> InputField:
        """The input called `name`; KeyError if the model has none."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        """Input names in form order."""
        return tuple(f.name for f in self.fields)

    def defaults(self) -> dict[str, Any]:
        """Each input that has a default, with a copy of it."""
        return {f.name: copy.deepcopy(f.default) for f in self.fields if f.default is not None}

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The `input` to send for `values`, or InvalidRequest listing every problem.

        Blank optional values (None, "" or only whitespace) are left out so Replicate applies its
        default. The prompt is stripped; CRLF becomes LF. Numbers come from numeric strings only when
        exact ("3" is the integer 3, "3.5" is not an integer); booleans must be real booleans.
        `values` is never changed.
        """
        problems: list[Problem] = []
        clean: dict[str, Any] = {}
        for f in self.fields:
            value = values.get(f.name)
            if f.name == "prompt" and isinstance(value, str):
                value = value.strip()
            if _is_blank(value):
                if f.required:
                    message = "Please enter a prompt." if f.name == "prompt" else f"{f.label} is required."
                    problems.append(Problem(f.name, message))
                continue
            try:
                clean[f.name] = _check(f, value)
            except _Refused as refused:
                problems.append(Problem(f.name, str(refused)))
        known = set(self.names)
        for key in values:
            if key not in known:
                problems.append(Problem(str(key), f"Unknown option {key!r} for {self.model}."))
        if problems:
            raise InvalidRequest(problems)
        return clean


    def validate_each(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
        """Each of `values` this model takes, checked on its own: (the valid ones, cleaned, and the
        problems of the others). Unknown keys and blank values are left out silently; a missing
        required input is no problem here. For values from a file, to fill a form with."""
        clean: dict[str, Any] = {}
        problems: list[Problem] = []
        for f in self.fields:
            if f.name not in values:
                continue
            value = values[f.name]
            if f.name == "prompt" and isinstance(value, str):
                value = value.strip()
            if _is_blank(value):
                continue
            try:
                clean[f.name] = _check(f, value)
            except _Refused as refused:
                problems.append(Problem(f.name, str(refused)))
        return clean, problems


def humanize(name: str) -> str:
    """A name as words: safety_filter_level -> "Safety filter level"."""
    words = name.replace("_", " ").replace("-", " ").split()
    text = " ".join(words)
    return text[:1].upper() + text[1:]


_ORIENTATION = {True: "landscape", False: "portrait"}
_CHOICE_LABELS: dict[str, dict[str, str]] = {
    "safety_filter_level": {
        "block_low_and_above": "Strictest (block low and above)",
        "block_medium_and_above": "Balanced (block medium and above)",
        "block_only_high": "Most permissive (block only high)",
    },
    "output_format": {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WebP"},
    "resolution": {"1K": "1K (about 1 megapixel)", "2K": "2K (about 4 megapixels)", "4K": "4K (about 16 megapixels)",
                   "match_input_image": "Same as the input image"},
}
_MATCH_INPUT = "Same as the input image"


def choice_label(field_name: str, value: Any) -> str:
    """What a dropdown shows for `value` of `field_name`: "16:9" -> "16:9 landscape",
    "block_only_high" -> "Most permissive (block only high)", "jpg" -> "JPEG", "match_input_image" ->
    "Same as the input image", "2K" -> "2K (about 4 megapixels)"; else the value itself."""
    text = str(value)
    if text == "match_input_image":
        return _MATCH_INPUT
    if field_name == "aspect_ratio":
        match = re.fullmatch(r"(\d+):(\d+)", text)
        if match and int(match[1]) and int(match[2]):
            width, height = int(match[1]), int(match[2])
            shape = "square" if width == height else _ORIENTATION[width > height]
            return f"{text} {shape}"
        return text
    return _CHOICE_LABELS.get(field_name, {}).get(text, text)


def parse_model(model_json: Mapping[str, Any]) -> ModelSchema:
    """A ModelSchema from a `GET /v1/models/{owner}/{name}` body.

    Reads `latest_version.openapi_schema.components.schemas.Input`: type, enum (inline, through
    `allOf`/`$ref`, or a plain `$ref`), default, title, description, the `required` list, minimum,
    maximum, maxLength, x-order and format uri. A string `prompt` without maxLength gets
    MAX_PROMPT_CHARS. Raises SchemaError when there is no usable Input schema.
    """
    if not isinstance(model_json, Mapping):
        raise SchemaError("The model description is not a JSON object.")
    owner, name = model_json.get("owner"), model_json.get("name")
    if not (isinstance(owner, str) and owner and isinstance(name, str) and name):
        raise SchemaError("The model description has no owner and name.")
    model = f"{owner}/{name}"
    version = model_json.get("latest_version")
    if not isinstance(version, Mapping):
        raise SchemaError(f"{model} has no published version to read its inputs from.")
    openapi = version.get("openapi_schema")
    schemas = _dig(openapi, "components", "schemas")
    if not isinstance(schemas, Mapping) or not isinstance(schemas.get("Input"), Mapping):
        raise SchemaError(f"The schema of {model} has no Input (components.schemas.Input).")
    input_schema = _flatten(schemas["Input"], openapi, model)
    properties = input_schema.get("properties")
    if not isinstance(properties, Mapping):
        raise SchemaError(f"The Input schema of {model} has no properties.")
    required = input_schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    fields = [
        _parse_field(str(field_name), spec, field_name in required_names, openapi, model)
        for field_name, spec in properties.items()
    ]
    fields.sort(key=lambda f: (f.order, f.name))
    output = schemas.get("Output")
    version_id = version.get("id")
    return ModelSchema(
        model=model,
        description=str(model_json.get("description") or ""),
        url=str(model_json.get("url") or f"https://replicate.com/{model}"),
        version_id=version_id if isinstance(version_id, str) else None,
        fields=tuple(fields),
        output=copy.deepcopy(dict(output)) if isinstance(output, Mapping) else {},
    )


def bundled_model_json(model: str) -> dict[str, Any] | None:
    """The bundled `models/{owner}-{name}.json` for "owner/name", or None when there is none."""
    if not isinstance(model, str) or not MODEL_ID.fullmatch(model):
        return None
    owner, name = model.split("/")
    try:
        data = json.loads((_MODELS_DIR / f"{owner}-{name}.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    # "a-b/c" and "a/b-c" share a file name: the body says whose it is.
    if not isinstance(data, dict) or (data.get("owner"), data.get("name")) != (owner, name):
        return None
    return data


def bundled_models() -> list[str]:
    """The "owner/name" of every bundled model JSON, sorted."""
    models = []
    for path in _MODELS_DIR.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        models.append(f"{data['owner']}/{data['name']}")
    return sorted(models)


# --- parsing -----------------------------------------------------------------------------------


def _parse_field(name: str, spec: Any, required: bool, openapi: Any, model: str) -> InputField:
    if not isinstance(spec, Mapping):
        raise SchemaError(f"The input {name!r} of {model} is not described by an object.")
    merged = _flatten(spec, openapi, model)
    choices = merged.get("enum")
    json_type = merged.get("type")
    if isinstance(json_type, list):  # JSON Schema's ["string", "null"]
        json_type = next((t for t in json_type if t != "null"), None)
    if isinstance(choices, list) and choices:
        kind = "enum"
    elif json_type == "string" and merged.get("format") == "uri":
        kind = "uri"
    else:
        kind = json_type if isinstance(json_type, str) else "any"
    item_kind = None
    if kind == "array" and isinstance(merged.get("items"), Mapping):
        items = _flatten(merged["items"], openapi, model)
        item_kind = "uri" if items.get("type") == "string" and items.get("format") == "uri" else items.get("type")
        item_kind = item_kind if isinstance(item_kind, str) else None
    max_length = _whole(merged.get("maxLength"))
    if name == "prompt" and kind == "string" and max_length is None:
        max_length = MAX_PROMPT_CHARS
    order = _whole(merged.get("x-order"))
    description = spec.get("description")  # not merged: an enum's own is "An enumeration."
    return InputField(
        name=name,
        kind=kind,
        title=_display_title(name, spec.get("title")),  # not merged: an enum's own is its name
        description=description.strip() if isinstance(description, str) else "",
        default=copy.deepcopy(merged.get("default")),
        choices=tuple(choices) if kind == "enum" else None,
        minimum=_number(merged.get("minimum")),
        maximum=_number(merged.get("maximum")),
        max_length=max_length,
        required=required,
        order=order if order is not None else UNORDERED,
        item_kind=item_kind,
        max_items=_whole(merged.get("maxItems")),
    )


def _flatten(node: Mapping[str, Any], openapi: Any, model: str, depth: int = 0) -> dict[str, Any]:
    """`node` with its `$ref`, `allOf` parts and single non-null `anyOf`/`oneOf` branch merged in;
    the node's own keys win."""
    if depth > 16:
        raise SchemaError(f"The schema of {model} has a $ref cycle.")
    merged: dict[str, Any] = {}
    parts: list[Any] = []
    if "$ref" in node:
        parts.append(_follow(node["$ref"], openapi, model))
    parts.extend(node.get("allOf") or ())
    for key in ("anyOf", "oneOf"):
        branches = [b for b in node.get(key) or () if not _is_null_type(b)]
        if len(branches) == 1:  # Optional[X] written as anyOf [X, null]
            parts.append(branches[0])
    for part in parts:
        if not isinstance(part, Mapping):
            raise SchemaError(f"The schema of {model} has a part that is not an object.")
        merged.update(_flatten(part, openapi, model, depth + 1))
    merged.update({k: v for k, v in node.items() if k not in ("$ref", "allOf", "anyOf", "oneOf")})
    return merged


def _follow(ref: Any, openapi: Any, model: str) -> Any:
    """The target of a local JSON pointer such as "#/components/schemas/aspect_ratio"."""
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise SchemaError(f"The schema of {model} has a $ref that is not local: {ref!r}.")
    node = openapi
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or token not in node:
            raise SchemaError(f"The schema of {model} refers to {ref!r}, which it does not define.")
        node = node[token]
    return node


def _is_null_type(node: Any) -> bool:
    return isinstance(node, Mapping) and node.get("type") == "null"


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _display_title(name: str, title: Any) -> str:
    """The schema's title when a person wrote it; Cog's generated "Num Outputs" reads as "Num outputs"."""
    if not isinstance(title, str) or not title.strip():
        return humanize(name)
    title = title.strip()
    if title in (name, name.replace("_", " ").title()):
        return humanize(name)
    return title


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- validation --------------------------------------------------------------------------------


class _Refused(Exception):
    """A value is refused; the message is for a person."""


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check(f: InputField, value: Any) -> Any:
    """The value to send for `f`, or _Refused."""
    if f.kind == "enum":
        return _check_choice(f, value)
    if f.kind in ("string", "uri"):
        return _check_text(f, value)
    if f.kind == "integer":
        return _check_number(f, _to_integer(value), "a whole number")
    if f.kind == "number":
        return _check_number(f, _to_number(value), "a number")
    if f.kind == "boolean":
        if isinstance(value, bool):
            return value
        raise _Refused(f"{f.label} must be true or false.")
    if f.kind == "array":
        if not isinstance(value, (list, tuple)):
            raise _Refused(f"{f.label} must be a list.")
        if f.item_kind == "uri":
            return [_check_text(replace(f, kind="uri", max_length=None), item) for item in value]
        return copy.deepcopy(list(value))
    if f.kind == "object":
        if isinstance(value, Mapping):
            return copy.deepcopy(dict(value))
        raise _Refused(f"{f.label} must be an object.")
    return copy.deepcopy(value)


def _check_choice(f: InputField, value: Any) -> Any:
    choices = f.choices or ()
    candidates = [value]
    if isinstance(value, str) and choices and all(_is_number(c) for c in choices):
        whole = all(isinstance(c, int) for c in choices)
        candidates.append(_to_integer(value) if whole else _to_number(value))
    for candidate in candidates:
        for choice in choices:
            if _same(candidate, choice):
                return choice
    allowed = ", ".join(str(c) for c in choices)
    raise _Refused(f"{f.label} must be one of: {allowed} (got {_preview(value)}).")


def _check_text(f: InputField, value: Any) -> str:
    if not isinstance(value, str):
        raise _Refused(f"{f.label} must be text.")
    text = value.replace("\r\n", "\n").replace("\r", "\n")  # a pasted Windows line end is a newline
    if f.kind == "uri":
        text = text.strip()
    if bad := _CONTROL_CHARS.search(text):
        code = f"U+{ord(bad[0]):04X}"
        raise _Refused(f"{f.label} contains an invisible control character ({code}); please remove it.")
    if bad := _LONE_SURROGATES.search(text):
        raise _Refused(f"{f.label} contains a broken character (U+{ord(bad[0]):04X}); please remove it.")
    if f.max_length is not None and len(text) > f.max_length:
        subject = "The prompt" if f.name == "prompt" else f.label
        raise _Refused(f"{subject} is {len(text):,} characters long; the limit is {f.max_length:,}.")
    if f.kind == "uri":
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if not ((scheme in ("http", "https") and parts.netloc) or scheme == "data"):
            raise _Refused(f"{f.label} must be a link starting with http:// or https:// (or a data: URI).")
    return text


def _check_number(f: InputField, number: int | float | None, what: str) -> int | float:
    in_range = number is not None and (f.minimum is None or number >= f.minimum) and (
        f.maximum is None or number <= f.maximum
    )
    if in_range:
        return number  # type: ignore[return-value]
    if f.minimum is not None and f.maximum is not None:
        what += f" between {_show(f.minimum)} and {_show(f.maximum)}"
    elif f.minimum is not None:
        what += f" of at least {_show(f.minimum)}"
    elif f.maximum is not None:
        what += f" of at most {_show(f.maximum)}"
    raise _Refused(f"{f.label} must be {what}.")


def _to_integer(value: Any) -> int | None:
    """An int for an int, an integral finite float, or an exactly integral numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None  # inf and nan are not integers
    exact = _decimal(value)
    if exact is None or exact != exact.to_integral_value():
        return None
    return int(exact)


def _to_number(value: Any) -> int | float | None:
    """A finite int or float from a number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    exact = _decimal(value)
    return float(exact) if exact is not None else None


def _decimal(value: Any) -> Decimal | None:
    if not isinstance(value, str):
        return None
    try:
        exact = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not exact.is_finite() or (exact and exact.adjusted() > _MAX_EXPONENT):
        return None
    return exact


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(value: Any, choice: Any) -> bool:
    """Equal and of the same sort: True is not 1, "1" is not 1, 1.0 is 1."""
    if _is_number(value) and _is_number(choice):
        return value == choice
    return type(value) is type(choice) and value == choice


def _show(number: int | float) -> str:
    return str(int(number)) if isinstance(number, float) and number.is_integer() else str(number)


def _preview(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
