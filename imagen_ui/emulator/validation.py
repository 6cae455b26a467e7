"""Request validation with Replicate's 422 wording (its messages come from a JSON-schema validator).

Checks a prediction's ``input`` against the model's Cog ``Input`` schema and the request body's
own top-level keys. Errors carry ``type``, ``field`` and ``description`` exactly as Replicate's
``invalid_fields`` entries do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import urlsplit

WEBHOOK_EVENTS = ("start", "output", "logs", "completed")


@dataclass(frozen=True)
class InvalidField:
    type: str
    field: str
    description: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "field": self.field, "description": self.description}


def detail_of(fields: Iterable[InvalidField]) -> str:
    """The problem's ``detail``: one ``- field: description`` line per error."""
    return "\n".join(f"- {f.field}: {f.description}" for f in fields)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _is_type(value: Any, expected: str) -> bool:
    actual = json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _resolve(prop: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """Inline ``allOf: [{$ref}]`` / ``$ref`` enum schemas, as Cog writes them."""
    merged = {k: v for k, v in prop.items() if k not in ("allOf", "$ref")}
    refs = [prop] if "$ref" in prop else list(prop.get("allOf", []))
    for item in refs:
        ref = item.get("$ref", "")
        target = schemas.get(ref.rsplit("/", 1)[-1], {}) if ref else item
        for key, value in target.items():
            merged.setdefault(key, value)
    return merged


def _enum_text(values: list[Any]) -> str:
    return ", ".join(json.dumps(v, ensure_ascii=False) for v in values)


class InputSchema:
    """A model's ``components.schemas.Input``, resolved, plus its ``Output`` schema."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        schemas = openapi["components"]["schemas"]
        spec = schemas["Input"]
        self.required: list[str] = list(spec.get("required", []))
        props = spec.get("properties", {})
        ordered = sorted(props, key=lambda n: props[n].get("x-order", len(props)))
        self.properties: dict[str, dict[str, Any]] = {n: _resolve(props[n], schemas) for n in ordered}
        self.output: dict[str, Any] = schemas.get("Output", {})

    @property
    def output_is_list(self) -> bool:
        return self.output.get("type") == "array"

    def with_defaults(self, value: dict[str, Any]) -> dict[str, Any]:
        filled = {n: p["default"] for n, p in self.properties.items() if "default" in p}
        filled.update(value)
        return filled

    def validate(self, value: Any) -> list[InvalidField]:
        if not isinstance(value, dict):
            return [_invalid_type("input", "object", value)]
        errors = [
            InvalidField("required", "input", f"{name} is required")
            for name in self.required
            if name not in value
        ]
        for name, prop in self.properties.items():
            if name in value:
                errors.extend(_check_value(f"input.{name}", name, prop, value[name]))
        # Keys the model does not declare are not refused: Replicate hands the input to Cog, which
        # drops them (clients rely on it; the Vercel AI SDK always sends num_outputs). See `declared`.
        return errors

    def declared(self, value: dict[str, Any]) -> dict[str, Any]:
        """The inputs the model declares: what it actually runs with."""
        return {k: v for k, v in value.items() if k in self.properties}


def _invalid_type(field: str, expected: str, value: Any) -> InvalidField:
    return InvalidField(
        "invalid_type", field, f"Invalid type. Expected: {expected}, given: {json_type(value)}"
    )


def _check_value(field: str, label: str, prop: dict[str, Any], value: Any) -> list[InvalidField]:
    expected = prop.get("type")
    if expected and not _is_type(value, expected):
        return [_invalid_type(field, expected, value)]  # an enum check on top would only repeat it
    if "enum" in prop and value not in prop["enum"]:
        text = f"{label} must be one of the following: {_enum_text(prop['enum'])}"
        return [InvalidField("enum", field, text)]
    errors = []
    if "minimum" in prop and _is_type(value, "number") and value < prop["minimum"]:
        errors.append(InvalidField("number_gte", field, f"Must be greater than or equal to {prop['minimum']}"))
    if "maximum" in prop and _is_type(value, "number") and value > prop["maximum"]:
        errors.append(InvalidField("number_lte", field, f"Must be less than or equal to {prop['maximum']}"))
    return errors


def validate_body(body: dict[str, Any], allowed: frozenset[str], required: tuple[str, ...]) -> list[InvalidField]:
    """The request body's own keys: unknown keys, ``webhook``, ``webhook_events_filter``, ``stream``."""
    errors = [InvalidField("required", "(root)", f"{key} is required") for key in required if key not in body]
    errors.extend(
        InvalidField("additional_property_not_allowed", "(root)", f"Additional property {key} is not allowed")
        for key in body
        if key not in allowed
    )
    for key in ("webhook", "webhook_completed"):
        if key in body:
            errors.extend(_check_url(key, body[key]))
    if "webhook_events_filter" in body:
        errors.extend(_check_events(body["webhook_events_filter"]))
    if "stream" in body and not isinstance(body["stream"], bool):
        errors.append(_invalid_type("stream", "boolean", body["stream"]))
    if "version" in body and not isinstance(body["version"], str):
        errors.append(_invalid_type("version", "string", body["version"]))
    return errors


def _check_url(field: str, value: Any) -> list[InvalidField]:
    if not isinstance(value, str):
        return [_invalid_type(field, "string", value)]
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [InvalidField("format", field, "Does not match format 'uri'")]
    return []


def _check_events(value: Any) -> list[InvalidField]:
    if not isinstance(value, list):
        return [_invalid_type("webhook_events_filter", "array", value)]
    return [
        InvalidField(
            "enum",
            f"webhook_events_filter.{i}",
            f"webhook_events_filter.{i} must be one of the following: {_enum_text(list(WEBHOOK_EVENTS))}",
        )
        for i, event in enumerate(value)
        if event not in WEBHOOK_EVENTS
    ]
