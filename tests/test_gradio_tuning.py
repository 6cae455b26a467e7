"""The contract of imagen_ui/gradio_tuning.py: each change it makes to Gradio's behaviour is in effect.

They reach into the pinned Gradio's internals (environment knobs read when the queue is made,
attributes of its queue and blocks, handler signatures): a Gradio upgrade that renames one would
silently cost the speed (benchmarks/playground_load.py) or the messages back, so this says so. The
first tests look at the real app; the rest at small Blocks apps, each tuning with and without.
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest
from conftest import free_port
from gradio_client import Client
from gradio_client.exceptions import AppError
from playground import serve

from imagen_ui import gradio_tuning

ROOT = Path(__file__).resolve().parent.parent


# --- the real app -----------------------------------------------------------------------------------


def test_queue_settings_that_keep_a_burst_of_clicks_cheap(emulator, tmp_path):
    with serve(tmp_path / "history", api_base=emulator.base_url) as (app, _url):
        queue = app.demo._queue
        assert queue.live_updates is False  # queue positions once a second, not per started event
        assert queue.update_intervals == gradio_tuning.STATUS_UPDATE_RATE == 1.0
        assert queue.default_concurrency_limit is None  # I/O-bound events: no per-event cap
        assert queue.ANAYLTICS_CACHE_FREQUENCY == 100  # monitoring summary every 100 events...
        assert queue.ANALYTICS_MAX_EVENTS == 1000  # ...over the last 1,000
        assert queue.max_thread_count == app.demo.max_threads == 256  # launch() kept ui.build's figure
        assert gc.get_freeze_count() > 0  # the long-lived startup objects are out of the collector's way


def test_each_session_gets_its_own_copy_of_a_blocks_config(emulator, tmp_path):
    with serve(tmp_path / "history", api_base=emulator.base_url) as (app, _url):
        prompt = next(b for b in app.demo.blocks.values() if getattr(b, "elem_id", None) == "prompt")
        first = prompt.get_config()
        first["value"] = "one visitor's prompt"  # what Gradio does to a session's copy
        del first["label"]
        second = prompt.get_config()
        assert second["value"] != "one visitor's prompt" and second["label"] == "Prompt"
        assert second is not first


def test_the_guards_on_gradios_own_routes_are_in_effect(emulator, tmp_path):
    """Each leans on a Gradio internal (hostile tests show the attacks; this says when one is gone)."""
    from imagen_ui import gradio_tuning

    with serve(tmp_path / "history", api_base=emulator.base_url, public=True) as (app, _url):
        demo = app.demo
        assert demo.max_file_size == 20 * 2**20  # launch(max_file_size=...) parsed "20mb"
        assert demo.delete_cache == gradio_tuning.CACHE_CLEANUP  # read by the server's lifespan
        assert demo.run_history is False  # public mode: no runs kept in the browser
        assert "checked" in demo.preprocess_data.__qualname__  # explain_bad_calls wraps Gradio's
        paths = {getattr(route, "path", None) for route in demo.server_app.router.routes}
        assert gradio_tuning.DEEP_LINK_ROUTE not in paths and "/config" in paths  # Gradio's app.get routes


# --- the pinned version -----------------------------------------------------------------------------


def test_the_pinned_gradio_is_the_one_installed_required_and_declared_for_spaces():
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.findall(r"^gradio==(\S+)$", requirements, re.MULTILINE) == [gradio_tuning.PINNED_GRADIO]
    front_matter = readme.split("---")[1]
    assert re.findall(r"^sdk_version: (\S+)$", front_matter, re.MULTILINE) == [gradio_tuning.PINNED_GRADIO]
    assert gr.__version__ == gradio_tuning.PINNED_GRADIO
    assert gradio_tuning.check_version() is True


def test_another_gradio_is_named_at_start_up(monkeypatch, caplog):
    monkeypatch.setattr(gr, "__version__", "99.0.0")
    with caplog.at_level("WARNING", logger="imagen_ui.gradio_tuning"):
        assert gradio_tuning.check_version() is False
    assert "Gradio 99.0.0 is installed; imagen-ui is tuned for 6.31.0" in caplog.text


# --- environment knobs ------------------------------------------------------------------------------


@pytest.fixture
def clean_knobs(monkeypatch):
    """The knobs unset, as in a fresh process before Gradio is imported; each restored afterwards
    (set first, so that monkeypatch remembers to put back whatever this process had)."""
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # the Blocks made here send nothing
    for key in (*gradio_tuning.QUEUE_SUMMARY_ENV, "HF_HUB_DISABLE_TELEMETRY"):
        monkeypatch.setenv(key, os.environ.get(key, ""))
        monkeypatch.delenv(key)
    yield monkeypatch


def test_environment_knobs_are_set_and_read_when_the_queue_is_made(clean_knobs):
    with gr.Blocks() as untuned:
        gr.Markdown("x")
    untuned.queue()
    assert (untuned._queue.ANAYLTICS_CACHE_FREQUENCY, untuned._queue.ANALYTICS_MAX_EVENTS) == (1, 10_000)

    gradio_tuning.configure_environment(analytics=False)
    assert {key: os.environ[key] for key in gradio_tuning.QUEUE_SUMMARY_ENV} == gradio_tuning.QUEUE_SUMMARY_ENV
    with gr.Blocks() as tuned:
        gr.Markdown("x")
    tuned.queue()
    assert (tuned._queue.ANAYLTICS_CACHE_FREQUENCY, tuned._queue.ANALYTICS_MAX_EVENTS) == (100, 1000)


def test_environment_knobs_leave_what_the_host_set_and_analytics_follow_the_setting(clean_knobs):
    clean_knobs.setenv("GRADIO_ANALYTICS_MAX_EVENTS", "50")
    gradio_tuning.configure_environment(analytics=True)
    assert os.environ["GRADIO_ANALYTICS_MAX_EVENTS"] == "50"
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "True"
    assert "HF_HUB_DISABLE_TELEMETRY" not in os.environ  # asked for analytics: the hub's are not silenced
    gradio_tuning.configure_environment(analytics=False)
    assert (os.environ["GRADIO_ANALYTICS_ENABLED"], os.environ["HF_HUB_DISABLE_TELEMETRY"]) == ("False", "1")


# --- memoized block configs -------------------------------------------------------------------------


def test_api_descriptions_are_computed_once_per_block():
    with gr.Blocks() as demo:
        slider = gr.Slider(1, 4, value=1, step=1, label="Number of images")
        untouched = gr.Slider(1, 4, value=1, step=1)
    untouched_info = untouched.api_info()
    assert untouched.api_info() == untouched_info and untouched.api_info() is not untouched_info  # rebuilt each call
    gradio_tuning.memoize_block_configs(demo)
    for name in ("api_info", "api_info_as_input", "api_info_as_output", "example_inputs"):
        assert getattr(slider, name)() is getattr(slider, name)(), name
    assert slider.api_info() == untouched_info


def test_a_blocks_config_is_built_once_and_each_caller_gets_its_own_copy():
    with gr.Blocks() as demo:
        box = gr.Textbox(label="Prompt", value="a lighthouse")
    built = []
    original = box.get_config

    def counting(*args, **kwargs):
        built.append(args)
        return original(*args, **kwargs)

    box.get_config = counting
    gradio_tuning.memoize_block_configs(demo)
    first, second = box.get_config(), box.get_config()
    assert built == [()]  # built once
    assert first == second and first is not second
    first["value"] = "changed by a session"
    assert box.get_config()["value"] == "a lighthouse"
    box.get_config(gr.Textbox)  # with arguments: Gradio's own call, passed through every time
    assert len(built) == 2


# --- the queue and launch() -------------------------------------------------------------------------


@pytest.fixture
def launched() -> Iterator:
    """`launched(demo, **options)` -> its base URL, on a free loopback port; closed after the test."""
    demos: list[gr.Blocks] = []

    def launch(demo: gr.Blocks, **options) -> str:
        demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", server_port=free_port(),
                    **options)
        demos.append(demo)
        return demo.local_url

    yield launch
    for demo in demos:
        demo.close()


def small_demo() -> gr.Blocks:
    with gr.Blocks() as demo:
        box = gr.Textbox()
        box.submit(lambda text: text, box, box)
    return demo


def test_tune_queue_and_launch_options_keep_the_worker_slots(launched):
    tuned = small_demo()
    gradio_tuning.tune_queue(tuned, max_threads=123)
    assert (tuned._queue.default_concurrency_limit, tuned._queue.live_updates) == (None, False)
    launched(tuned, **gradio_tuning.launch_options(tuned))
    assert tuned._queue.max_thread_count == tuned.max_threads == 123

    forgotten = small_demo()  # why launch_options exists: launch() resets the slots from its argument
    gradio_tuning.tune_queue(forgotten, max_threads=123)
    launched(forgotten)
    assert forgotten._queue.max_thread_count == 40


# --- named parameters and payload passthrough, through the API gradio_client sees -------------------


def test_named_parameters_and_any_payload_reach_the_api(launched):
    def run(request: gr.Request, *values):
        assert isinstance(request, gr.Request)
        return repr(values)

    def plain(count):
        return repr(count)

    gradio_tuning.name_parameters(run, ("prompt", "num_images"))
    with gr.Blocks() as demo:
        prompt = gr.Textbox()
        count = gradio_tuning.accept_any_payload(gr.Slider(1, 4, value=1, step=1))
        strict = gr.Slider(1, 4, value=1, step=1)
        out = gr.Textbox()
        gr.Button().click(run, [prompt, count], out, api_name="run")
        gr.Button().click(plain, strict, out, api_name="plain")
    assert type(count) is gr.Slider  # an instance override: no subclass (whose .pyi Gradio would write)
    demo.queue()
    client = Client(launched(demo), verbose=False, analytics_enabled=False)
    parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/run"]["parameters"]
    assert [p["parameter_name"] for p in parameters] == ["prompt", "num_images"]
    assert client.predict(prompt="a harbour", num_images=2, api_name="/run") == "('a harbour', 2)"
    # Out of the slider's range: handed to the handler (the service words the refusal)...
    assert client.predict(prompt="a harbour", num_images=99, api_name="/run") == "('a harbour', 99)"
    # ...where Gradio's own check would refuse it with its generic bounds message.
    with pytest.raises(AppError):
        client.predict(99, api_name="/plain")


# --- gc.freeze and the missing matplotlib ------------------------------------------------------------

FREEZE = """
import gc, sys
from imagen_ui import gradio_tuning
gradio_tuning.freeze_startup_objects()
assert gc.get_freeze_count() > 0, "nothing frozen"
try:
    import matplotlib
except ImportError as error:
    print("missing:", error)
else:
    print("found:", matplotlib.__file__)
"""


def test_freeze_moves_startup_objects_out_of_the_collectors_way_and_marks_matplotlib_missing(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    absent = subprocess.run([sys.executable, "-c", FREEZE], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert absent.returncode == 0, absent.stderr
    assert absent.stdout.startswith("missing: import of matplotlib halted; None in sys.modules")

    fake = tmp_path / "site" / "matplotlib"  # a matplotlib that IS installed must stay importable
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("", encoding="utf-8")
    env["PYTHONPATH"] = os.pathsep.join((str(ROOT), str(tmp_path / "site")))
    present = subprocess.run([sys.executable, "-c", FREEZE], env=env, capture_output=True, text=True,
                             timeout=60, check=False)
    assert present.returncode == 0, present.stderr
    assert present.stdout.strip() == f"found: {fake / '__init__.py'}"
