"""The "Use via API" snippets: the Replicate calls equivalent to what the form holds, ready to copy.

    python_snippet(model, inputs)      the official `replicate` Python client
    javascript_snippet(model, inputs)  the `replicate` npm client (ESM, as the model's page shows it)
    curl_snippet(model, inputs)        plain HTTP with curl, one prediction in sync mode

`model` is the `ModelSchema` the form was built from; `inputs` are the form's values by input name.
Only the inputs worth showing appear (see `shown_inputs`), each value rendered exactly (JSON-escaped).
No function here takes or reads a token: every snippet leaves it to `REPLICATE_API_TOKEN`.

Pure module: no network, no Gradio.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

from imagen_ui.schema import ModelSchema

__all__ = ["curl_snippet", "javascript_snippet", "python_snippet", "shown_inputs"]

DEFAULT_API_BASE = "https://api.replicate.com"
_JS_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_EXTENSIONS = {"jpeg": "jpg"}  # Replicate names JPEG files .jpg


def shown_inputs(model: ModelSchema, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs a snippet spells out: required ones, and the rest only where they differ from the
    schema's default (so the snippet stays as short as the model page's). Unset values (None) are
    left out. Known inputs come in form order, unknown ones after, as given."""
    shown: dict[str, Any] = {}
    for field in model.fields:
        if field.name not in inputs or inputs[field.name] is None:
            continue
        value = inputs[field.name]
        if field.required or field.default is None or not _same(value, field.default):
            shown[field.name] = value
    known = set(model.names)
    for name, value in inputs.items():
        if name not in known and value is not None:
            shown[name] = value
    return shown


def python_snippet(model: ModelSchema, inputs: Mapping[str, Any], *, runs: int = 1) -> str:
    """A Python script that runs the model with the official `replicate` client and saves the image(s);
    `runs` > 1 runs it that many times (one prediction per image, as the page does)."""
    body = _python_literal(shown_inputs(model, inputs), indent=8 if runs > 1 else 4)
    lines = [
        "output = replicate.run(",
        f"    {_python_literal(model.model, 0)},",
        f"    input={body}",
        ")",
        "",
    ]
    extension = _extension(model, inputs)
    stem = "output_{number}" if runs > 1 else "output"
    if _is_list_output(model):
        lines += [
            "# To write the files to disk:",
            "for index, item in enumerate(output):",
            f'    with open(f"{stem}_{{index}}{extension}", "wb") as file:',
            "        file.write(item.read())",
        ]
    else:
        lines += [
            "# To write the file to disk:",
            f'with open({"f" if runs > 1 else ""}"{stem}{extension}", "wb") as file:',
            "    file.write(output.read())",
        ]
    if runs > 1:
        lines = [f"for number in range(1, {runs + 1}):"] + [f"    {line}" if line else "" for line in lines]
    return "\n".join(["import replicate", "", *lines]) + "\n"


def javascript_snippet(model: ModelSchema, inputs: Mapping[str, Any], *, runs: int = 1) -> str:
    """An ES module that runs the model with the `replicate` npm client and saves the image(s);
    `runs` > 1 runs it that many times."""
    head = [
        'import { writeFile } from "fs/promises";',
        'import Replicate from "replicate";',
        "const replicate = new Replicate();",
        "",
        f"const input = {_js_object(shown_inputs(model, inputs))};",
        "",
    ]
    lines = [f"const output = await replicate.run({_json(model.model)}, {{ input }});", ""]
    extension = _extension(model, inputs)
    stem = "output_${number}" if runs > 1 else "output"
    if _is_list_output(model):
        lines += [
            "// To write the files to disk:",
            "for (const [index, item] of output.entries()) {",
            f"  await writeFile(`{stem}_${{index}}{extension}`, item);",
            "}",
        ]
    else:
        name = f"`{stem}{extension}`" if runs > 1 else f'"{stem}{extension}"'
        lines += ["// To write the file to disk:", f"await writeFile({name}, output);"]
    if runs > 1:
        lines = ([f"for (let number = 1; number <= {runs}; number++) {{"]
                 + [f"  {line}" if line else "" for line in lines] + ["}"])
    return "\n".join(head + lines) + "\n"


def curl_snippet(model: ModelSchema, inputs: Mapping[str, Any], *, base_url: str = DEFAULT_API_BASE,
                 runs: int = 1) -> str:
    """A bash command that creates the prediction and waits for it (`Prefer: wait`), printing its JSON;
    `runs` > 1 wraps it in a loop.

    The body is single-quoted for the shell (shlex), so quotes, `$`, backticks and newlines in a
    prompt reach Replicate as typed; only `$REPLICATE_API_TOKEN` in the header is expanded.
    """
    url = f"{base_url.rstrip('/')}/v1/models/{model.model}/predictions"
    body = _json({"input": shown_inputs(model, inputs)}, indent=2)
    lines = [
        "curl -s -X POST \\",
        '  -H "Authorization: Bearer $REPLICATE_API_TOKEN" \\',
        '  -H "Content-Type: application/json" \\',
        '  -H "Prefer: wait" \\',
        f"  -d {shlex.quote(body)} \\",
        f"  {shlex.quote(url)}",
    ]
    if runs > 1:  # the lines are indented, not the quoted body inside them
        lines = [f"for number in $(seq 1 {runs}); do", *(f"  {line}" for line in lines), "done"]
    return "\n".join(lines) + "\n"


# --- rendering ---------------------------------------------------------------------------------


def _json(value: Any, indent: int | None = None) -> str:
    """JSON text, readable (non-ASCII kept) unless it holds a lone surrogate that UTF-8 cannot carry."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, indent=indent, ensure_ascii=True, allow_nan=False)
    return text


def _python_literal(value: Any, indent: int) -> str:
    """`value` as Python source; dicts and lists one item a line, nested `indent` spaces deeper."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float, str)):
        return _json(value)  # a JSON number or string is also a valid Python literal
    inner = " " * (indent + 4)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = [f"{inner}{_json(str(k))}: {_python_literal(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = [f"{inner}{_python_literal(v, indent + 4)}," for v in value]
        return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"
    raise TypeError(f"cannot show a {type(value).__name__} in a snippet")


def _js_object(values: Mapping[str, Any]) -> str:
    """A JS object literal: bare keys where they are identifiers, JSON values (JSON is valid JS)."""
    if not values:
        return "{}"
    items = []
    for key, value in values.items():
        name = key if _JS_IDENTIFIER.fullmatch(key) else _json(key)
        rendered = _json(value, indent=2).replace("\n", "\n  ")
        items.append(f"  {name}: {rendered},")
    return "{\n" + "\n".join(items) + "\n}"


def _extension(model: ModelSchema, inputs: Mapping[str, Any]) -> str:
    """".jpg", ".webp", ...: the output_format asked for (or its default); "" when the model has none."""
    value = inputs.get("output_format")
    if value is None and "output_format" in model.names:
        value = model.field("output_format").default
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9]{1,8}", value):
        return ""
    value = value.lower()
    return "." + _EXTENSIONS.get(value, value)


def _is_list_output(model: ModelSchema) -> bool:
    return model.output.get("type") == "array"


def _same(value: Any, default: Any) -> bool:
    """Equal and of the same sort: True is not 1, "1" is not 1, but 1.0 is 1."""
    numbers = (int, float)
    if isinstance(value, numbers) and isinstance(default, numbers):
        if isinstance(value, bool) or isinstance(default, bool):
            return type(value) is type(default) and value == default
        return value == default
    return type(value) is type(default) and value == default
