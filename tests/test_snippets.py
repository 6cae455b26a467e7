"""The "Use via API" snippets: short, exact, token-free, and they really run.

The Python snippet runs in a subprocess with the official client against the emulator, the curl
snippet runs through bash and curl against it, and the JavaScript snippet runs under node with a
stand-in `replicate` module that records what it was given. curl and node must be installed
(.ci/run installs them): these tests fail, never skip, without them.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagen_ui.emulator import Emulator
from imagen_ui.schema import ModelSchema, bundled_model_json, parse_model
from imagen_ui.ui.snippets import (
    curl_snippet,
    javascript_snippet,
    python_snippet,
    shown_inputs,
)

TOKEN = "r8_canary_token_do_not_print_0123456789"
# Everything a shell or a string literal could trip over.
TRICKY_PROMPT = (
    'She said "stop" & it\'s 5 o\'clock: $HOME ${PATH} `id` $(touch pwned) \\n stays a backslash-n\n'
    "a real newline,\ta tab, !history *glob ~ {a,b} ; | > x, é 漢字 😀, \u2028 and a last '"
)
pytestmark = pytest.mark.timeout(60)


def schema(model: str) -> ModelSchema:
    data = bundled_model_json(model)
    assert data is not None
    return parse_model(data)


FAST = schema("google/imagen-4-fast")
FLUX = schema("black-forest-labs/flux-schnell")
ALL_SNIPPETS = (python_snippet, javascript_snippet, curl_snippet)


def installed(program: str, package: str) -> str:
    """The path of `program`; fails the test (it must never skip) when it is missing."""
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is not installed: apt-get install {package} (as .ci/run does)")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    env.update(extra)
    return env


def created_inputs(emu: Emulator) -> list[dict[str, Any]]:
    """The `input` of every prediction create the emulator received, in order."""
    return [
        json.loads(r.body)["input"]
        for r in emu.requests
        if r.method == "POST" and r.path.endswith("/predictions")
    ]


# --- what is shown -------------------------------------------------------------------------------


def test_defaults_are_left_out_and_required_inputs_kept() -> None:
    form = {"prompt": "", "aspect_ratio": "1:1", "output_format": "png", "safety_filter_level": "block_only_high"}
    assert shown_inputs(FAST, form) == {"prompt": "", "output_format": "png"}


def test_inputs_come_in_form_order_unset_ones_dropped_unknown_ones_last() -> None:
    form = {"extra": 1, "seed": None, "go_fast": False, "num_outputs": 2, "prompt": "p", "megapixels": "1"}
    assert list(shown_inputs(FLUX, form).items()) == [
        ("prompt", "p"), ("num_outputs", 2), ("go_fast", False), ("extra", 1)
    ]


def test_an_input_without_a_default_is_shown_when_set() -> None:
    assert shown_inputs(FLUX, {"prompt": "p", "seed": 0}) == {"prompt": "p", "seed": 0}


def test_a_value_of_another_type_than_the_default_is_not_the_default() -> None:
    form = {"prompt": "p", "num_outputs": 1.0, "go_fast": 1, "megapixels": 1}
    assert shown_inputs(FLUX, form) == {"prompt": "p", "go_fast": 1, "megapixels": 1}


def test_file_names_follow_the_output_format_and_the_output_shape() -> None:
    assert 'open("output.png", "wb")' in python_snippet(FAST, {"prompt": "p", "output_format": "png"})
    assert 'open("output.jpg", "wb")' in python_snippet(FAST, {"prompt": "p"})
    assert 'f"output_{index}.webp"' in python_snippet(FLUX, {"prompt": "p"})
    assert "`output_${index}.jpg`" in javascript_snippet(FLUX, {"prompt": "p", "output_format": "jpg"})


def test_the_curl_url_is_the_model_predictions_endpoint() -> None:
    text = curl_snippet(FAST, {"prompt": "p"}, base_url="http://127.0.0.1:9/")
    assert text.rstrip().endswith("http://127.0.0.1:9/v1/models/google/imagen-4-fast/predictions")
    assert "https://api.replicate.com/v1/models/google/imagen-4-fast/predictions" in curl_snippet(FAST, {"prompt": "p"})


# --- tokens never appear -------------------------------------------------------------------------


def test_no_snippet_function_takes_a_token() -> None:
    for function in ALL_SNIPPETS:
        assert not any("token" in name for name in inspect.signature(function).parameters), function


def test_a_token_in_the_environment_never_reaches_a_snippet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    monkeypatch.setenv("REPLICATE_API_KEY", TOKEN)
    for model in (FAST, FLUX):
        for function in ALL_SNIPPETS:
            text = function(model, {"prompt": "a lighthouse"})
            assert TOKEN not in text and "r8_" not in text
    assert "$REPLICATE_API_TOKEN" in curl_snippet(FAST, {"prompt": "p"})  # left to the shell to expand


# --- rendering is exact ----------------------------------------------------------------------------


def python_input_of(snippet: str) -> Any:
    """The `input=` argument of the snippet's replicate.run call, evaluated as a literal."""
    tree = ast.parse(snippet)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == "replicate.run"]
    assert len(calls) == 1
    (keyword,) = [k for k in calls[0].keywords if k.arg == "input"]
    return ast.literal_eval(keyword.value)


@pytest.mark.parametrize(
    "value",
    [
        TRICKY_PROMPT,
        "\x00\x1f\x7f control characters",
        "lone surrogate \ud800 here",
        0,
        -7,
        2.5e-10,
        True,
        False,
        ["a", 1, None, {"nested": [True, "x\"y"]}],
        {"key with spaces": {"and \"quotes\"": []}},
    ],
)
def test_python_snippet_renders_values_exactly(value: Any) -> None:
    snippet = python_snippet(FAST, {"prompt": "p", "extra": value})
    assert python_input_of(snippet) == {"prompt": "p", "extra": value}


def test_unrepresentable_numbers_are_refused() -> None:
    for function in ALL_SNIPPETS:
        with pytest.raises(ValueError):
            function(FAST, {"prompt": "p", "extra": float("nan")})


# --- curl through bash -----------------------------------------------------------------------------


def argv_bash_passes_to_curl(snippet: str, env: dict[str, str], cwd: Path) -> list[str]:
    """Run the snippet in bash with `curl` replaced by a function that prints its arguments."""
    stub = 'curl() { for arg in "$@"; do printf "%s\\0" "$arg"; done; }\n'
    result = subprocess.run(["bash", "-c", stub + snippet], env=env, cwd=cwd, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]


def test_bash_hands_curl_the_exact_json_body(tmp_path: Path) -> None:
    form = {"prompt": TRICKY_PROMPT, "aspect_ratio": "16:9"}
    argv = argv_bash_passes_to_curl(curl_snippet(FAST, form), clean_env(REPLICATE_API_TOKEN=TOKEN), tmp_path)
    body = argv[argv.index("-d") + 1]
    assert json.loads(body) == {"input": {"prompt": TRICKY_PROMPT, "aspect_ratio": "16:9"}}
    assert f"Authorization: Bearer {TOKEN}" in argv  # the one expansion we want
    assert "Prefer: wait" in argv
    assert argv[-1] == "https://api.replicate.com/v1/models/google/imagen-4-fast/predictions"
    assert not (tmp_path / "pwned").exists()  # no command substitution ran


def test_curl_snippet_creates_the_prediction_on_the_emulator(make_emulator: Any, tmp_path: Path) -> None:
    installed("curl", "curl")
    emu = make_emulator(latency=0.05, token=TOKEN)  # any other token is a 401
    form = {"prompt": TRICKY_PROMPT, "aspect_ratio": "3:4", "safety_filter_level": "block_low_and_above"}
    snippet = curl_snippet(FAST, form, base_url=emu.base_url)
    result = subprocess.run(
        ["bash", "-c", snippet], env=clean_env(REPLICATE_API_TOKEN=TOKEN), cwd=tmp_path, capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    prediction = json.loads(result.stdout)
    assert prediction["status"] == "succeeded" and prediction["output"].endswith(".jpg")
    (request,) = [r for r in emu.requests if r.method == "POST"]
    assert json.loads(request.body) == {"input": form}
    assert request.headers["prefer"] == "wait"
    assert not (tmp_path / "pwned").exists()


# --- the Python snippet with the official client ----------------------------------------------------

# The emulator serves outputs over plain http:// on loopback, which the official client (1.0.7) leaves
# as strings; only https: and data: URLs become FileOutput. Wrap loopback URLs too, so the snippet
# itself runs exactly as a user would paste it.
RUNNER = """
import runpy, sys
import replicate.helpers
run_module = sys.modules["replicate.run"]
original = run_module.transform_output

def transform_output(value, client):
    if isinstance(value, list):
        return [transform_output(item, client) for item in value]
    if isinstance(value, str) and value.startswith("http://127.0.0.1:"):
        return replicate.helpers.FileOutput(value, client)
    return original(value, client)

run_module.transform_output = transform_output
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def run_python_snippet(snippet: str, emu: Emulator, cwd: Path) -> None:
    (cwd / "snippet.py").write_text(snippet, encoding="utf-8")
    (cwd / "runner.py").write_text(RUNNER, encoding="utf-8")
    env = clean_env(REPLICATE_API_TOKEN=TOKEN, REPLICATE_BASE_URL=emu.base_url, REPLICATE_POLL_INTERVAL="0.05")
    result = subprocess.run(
        [sys.executable, "runner.py", "snippet.py"], env=env, cwd=cwd, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()


def test_python_snippet_runs_with_the_official_client(make_emulator: Any, tmp_path: Path) -> None:
    emu = make_emulator(latency=0.05, token=TOKEN)
    form = {"prompt": TRICKY_PROMPT, "aspect_ratio": "9:16", "output_format": "png"}
    run_python_snippet(python_snippet(FAST, form), emu, tmp_path)
    assert created_inputs(emu) == [form]
    (prediction,) = emu.predictions()
    served = httpx.get(prediction["output"]).content
    assert (tmp_path / "output.png").read_bytes() == served
    assert served.startswith(b"\x89PNG")


def test_python_snippet_for_several_images_runs_once_per_image(make_emulator: Any, tmp_path: Path) -> None:
    emu = make_emulator(latency=0.05, token=TOKEN)
    form = {"prompt": "three of them", "output_format": "png"}
    run_python_snippet(python_snippet(FAST, form, runs=3), emu, tmp_path)
    assert created_inputs(emu) == [form] * 3
    assert sorted(p.name for p in tmp_path.glob("output_*.png")) == ["output_1.png", "output_2.png", "output_3.png"]


def test_curl_snippet_for_several_images_loops(make_emulator: Any, tmp_path: Path) -> None:
    emu = make_emulator(latency=0.05, token=TOKEN)
    form = {"prompt": TRICKY_PROMPT}
    snippet = curl_snippet(FAST, form, base_url=emu.base_url, runs=2)
    result = subprocess.run(["bash", "-c", snippet], env=clean_env(REPLICATE_API_TOKEN=TOKEN), cwd=tmp_path,
                            capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert [json.loads(r.body) for r in emu.requests if r.method == "POST"] == [{"input": form}] * 2


def test_python_snippet_saves_every_image_of_a_list_output(make_emulator: Any, tmp_path: Path) -> None:
    emu = make_emulator(latency=0.05, token=TOKEN)
    form = {"prompt": "cake", "num_outputs": 2, "seed": 7, "output_quality": 80, "go_fast": False}
    run_python_snippet(python_snippet(FLUX, form), emu, tmp_path)
    assert created_inputs(emu) == [{"prompt": "cake", "num_outputs": 2, "seed": 7, "go_fast": False}]
    (prediction,) = emu.predictions()
    assert isinstance(prediction["output"], list) and prediction["output"]
    for index, url in enumerate(prediction["output"]):
        data = (tmp_path / f"output_{index}.webp").read_bytes()
        assert data == httpx.get(url).content and data[8:12] == b"WEBP"


# --- the JavaScript snippet under node ------------------------------------------------------------

# A stand-in for the npm `replicate` package (not installed here): records what run() was given and
# answers like the real client does, with ReadableStream file outputs that carry a url() method.
FAKE_REPLICATE = """
import { writeFileSync } from "node:fs";

export default class Replicate {
  constructor(options) { this.options = options ?? null; }
  async run(ref, options) {
    writeFileSync(process.env.SNIPPET_RECORD, JSON.stringify({ ref, options, constructed: this.options }));
    const file = (i) => Object.assign(
      new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(`image ${i}`)); c.close(); } }),
      { url: () => new URL(`https://replicate.delivery/fake/output_${i}`) },
    );
    const count = Number(process.env.SNIPPET_OUTPUTS);
    return count ? Array.from({ length: count }, (_, i) => file(i)) : file(0);
  }
}
"""


def run_javascript_snippet(snippet: str, cwd: Path, outputs: int) -> dict[str, Any]:
    package = cwd / "node_modules" / "replicate"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "replicate", "type": "module", "main": "index.js"}')
    (package / "index.js").write_text(FAKE_REPLICATE)
    (cwd / "snippet.mjs").write_text(snippet, encoding="utf-8")
    env = clean_env(SNIPPET_RECORD=str(cwd / "record.json"), SNIPPET_OUTPUTS=str(outputs))
    result = subprocess.run([installed("node", "nodejs"), "snippet.mjs"], env=env, cwd=cwd, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads((cwd / "record.json").read_text(encoding="utf-8"))


def test_javascript_snippet_passes_the_exact_input_and_saves_the_file(tmp_path: Path) -> None:
    form = {"prompt": TRICKY_PROMPT, "aspect_ratio": "4:3", "extra key": [1, {"x": None}]}
    record = run_javascript_snippet(javascript_snippet(FAST, form), tmp_path, outputs=0)
    assert record == {"ref": "google/imagen-4-fast", "options": {"input": form}, "constructed": None}
    assert (tmp_path / "output.jpg").read_bytes() == b"image 0"


def test_javascript_snippet_saves_every_image_of_a_list_output(tmp_path: Path) -> None:
    form = {"prompt": "cake", "num_outputs": 3, "disable_safety_checker": True, "output_format": "png"}
    record = run_javascript_snippet(javascript_snippet(FLUX, form), tmp_path, outputs=3)
    assert record["options"] == {"input": form}
    assert [(tmp_path / f"output_{i}.png").read_bytes() for i in range(3)] == [b"image 0", b"image 1", b"image 2"]
